"""``python -m upload_preds``: the same entry point as the ``upload-preds`` script."""

from upload_preds.cli import main

if __name__ == "__main__":
    main()
