"""Input records → Segments labels (:class:`~upload_preds.records.LabelJob`); no I/O
but reading mask and point label files.

The modules, in the order a row meets them:

* :mod:`.converter`: :class:`Converter`, built once per run. A JSON row's
  common fields (sample, label set, score, status) are checked here; its label
  comes from complete ``attributes`` (:mod:`.complete`, any task type) or from
  a label family, chosen through the one dispatch table ``LABEL_FAMILIES``
  (label kind → :class:`~.context.Family`).
* label families: :mod:`.shorthand` (the ``annotations`` list: categories,
  scores, ids, one label), whose annotation geometry comes from :mod:`.shapes`
  (image vector shapes: bbox conventions, points), :mod:`.shapes3d` (3-D
  polygons, polylines and points of point cloud vector labels) and
  :mod:`.cuboids` (point cloud cuboids); :mod:`.bitmaps` (segmentation masks:
  mask files, RLE, polygons → one RGBA bitmap, via :mod:`upload_preds.masks`);
  :mod:`.pcseg` (point-cloud segmentation: a per-point label file, read by
  :mod:`.pointlabels`, → ``point_annotations``); :mod:`.segsequences` (one row
  per frame of a point-cloud or image segmentation sequence, each frame by
  :mod:`.pcseg` or :mod:`.bitmaps`). Object sequences are :mod:`.sequences`
  (per-frame rows → one sequence label; each line checked by :mod:`.seqlines`
  with the frame task type's own family); :mod:`.multisensor` (rows of several
  sensors of one sample → one multi-sensor label, each sensor's rows through
  the sequence rules with its own categories).
* :mod:`.fast`: the fast path for the commonest rows (boxes, JSON and CSV),
  which gives up at the first thing it does not handle; a property test checks
  that it agrees with the full path wherever it answers.
* :mod:`.csvcells` (CSV/TSV cells and header layouts) and :mod:`.csvrows` (one
  annotation per record, grouped into labels).
* shared: :mod:`.checks` (numbers, attribute maps, reasons, scores, sizes),
  :mod:`.options` (:class:`ConvertOptions`, the flags), :mod:`.context` (one
  run's state and category lookups), :mod:`.categories` (the dataset's
  categories).

Adding a task type is one new module and one line in ``LABEL_FAMILIES``. For
example, image vector sequences would be::

    # convert/sequences.py
    def build(ctx: Context, data: dict[str, Any], anns: Any, loc: Location,
              errors: list[RowError]) -> Built | None:
        ...  # check the row's frames, return Built({"frames": [...]}, ...)

    # convert/converter.py, in LABEL_FAMILIES
    "image-vector-sequence": Family("image vector sequence", sequences.build),

Every rule has one implementation that returns the value or a ``(reason,
message)`` pair; the caller names the field as the user wrote it
(``annotations[2].bbox``, or the CSV column). The rules users rely on are in
the README ("Conversion rules").
"""

from upload_preds.convert.checks import R_LABEL_FAILED
from upload_preds.convert.converter import Converter
from upload_preds.convert.csvcells import CSV_COLUMNS, csv_header_problems
from upload_preds.convert.options import BBOX_FORMATS, ConvertOptions

__all__ = [
    "BBOX_FORMATS",
    "CSV_COLUMNS",
    "R_LABEL_FAILED",
    "ConvertOptions",
    "Converter",
    "csv_header_problems",
]
