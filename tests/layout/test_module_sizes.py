"""Rooms small enough to hold in one's head: module and class sizes under src/.

The project's rule is "no module over about 600 lines, no class over about
400": past that, a part moves out into a module named after what it holds.
Read as limits with the "about": 650 lines a module, 450 a class. None is
past them now (pipeline.py, engine.py, cli.py and client.py were split); a
module or class that must stay past one for a while is named in
``LARGE_MODULES``/``LARGE_CLASSES``, a split still to make; anything else
past a limit fails, so a module cannot grow out of its room unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "upload_preds"
MODULE_LINES = 650
CLASS_LINES = 450
#: Modules past the limit, to be split (not to grow further without a split).
LARGE_MODULES: set[str] = set()
#: Classes past the limit, to be split.
LARGE_CLASSES: set[str] = set()


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_outgrows_its_room() -> None:
    too_long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert set(too_long) <= LARGE_MODULES, too_long


def test_no_class_outgrows_its_room() -> None:
    too_long = {}
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > CLASS_LINES:
                    too_long[f"{p.relative_to(SRC)}:{node.name}"] = size
    assert {k.split(":")[1] for k in too_long} <= LARGE_CLASSES, too_long


def test_a_run_and_the_label_models_live_in_modules_named_after_them() -> None:
    # What run.py and models.py held, each where its name says (a newcomer's one step).
    from upload_preds import (
        dryrun,
        jobstream,
        labelcheck,
        labelmodels,
        labelsfile,
        rowschema,
        runinputs,
        runreport,
        target,
    )

    assert not (SRC / "models.py").exists()
    assert runreport.UploadReport.__module__ == "upload_preds.runreport"
    assert runinputs.RunInputs.__module__ == "upload_preds.runinputs"
    assert labelsfile.LabelsFile.__module__ == "upload_preds.labelsfile"
    assert jobstream.JobStream.__module__ == "upload_preds.jobstream"
    assert dryrun.count_single_pass.__module__ == "upload_preds.dryrun"
    assert target.Target.__module__ == "upload_preds.target"
    assert "vector" in labelmodels.TASK_TYPES
    assert labelcheck.validate_attributes({"annotations": []}, "vector")[1] == []
    assert rowschema.row_json_schema()["title"] == "upload-preds input row"


def test_the_preparer_and_the_engine_are_made_of_modules_named_after_their_parts() -> None:
    # What pipeline.py and engine.py held, each part where its name says.
    from upload_preds import (
        engine,
        engineconfig,
        formatitems,
        labeloutcomes,
        outcomes,
        pipeline,
        retries,
        scan,
        singlepass,
        spool,
    )

    # The preparer: its first pass, its rules for rows and duplicates, its dry-run
    # pass and its detector formats are bases from their own modules.
    bases = {b.__module__: b.__name__ for b in pipeline.Preparer.__mro__[1:-1]}
    assert bases == {
        "upload_preds.scan": "Scanner",
        "upload_preds.singlepass": "SinglePass",
        "upload_preds.labeloutcomes": "LabelOutcomes",
        "upload_preds.formatitems": "FormatItems",
    }
    assert scan.Scanner.scan.__qualname__ == "Scanner.scan"
    assert scan.Scan.__module__ == "upload_preds.scan"
    assert "_single_pass_items" in vars(singlepass.SinglePass)
    assert {"_confirm", "_replay"} <= set(vars(singlepass.SinglePass))
    assert {"_json_row", "_groups", "_duplicate_outcome"} <= set(vars(labeloutcomes.LabelOutcomes))
    assert {"_format_items", "_format_row"} <= set(vars(formatitems.FormatItems))
    assert spool.Spool.__module__ == "upload_preds.spool"
    assert labeloutcomes.OnDuplicate.__args__ == ("error", "last")
    # The engine: the loop itself; outcomes, config and the retried request apart.
    assert [b.__module__ for b in engine.UploadEngine.__mro__[1:-1]] == [
        "upload_preds.retries",
        "upload_preds.outcomes",
    ]
    assert {"_call", "_backoff", "_server_failure"} <= set(vars(retries.RetryingSender))
    assert 429 in retries.RETRYABLE_STATUSES
    assert 400 not in retries.RETRYABLE_STATUSES
    assert {"_failed", "_skipped", "_abort"} <= set(vars(outcomes.OutcomeRecorder))
    assert outcomes.EngineResult().failed_total == 0
    assert outcomes.skip_reason.__module__ == "upload_preds.outcomes"
    assert engineconfig.EngineConfig().concurrency == 16
    assert {"run", "_feed", "_worker", "_process"} <= set(vars(engine.UploadEngine))


def test_the_command_line_and_the_api_client_live_in_modules_named_after_them() -> None:
    # cli.py and client.py were split: each part where its name says.
    import inspect

    from upload_preds import apitransport, cli, client, clioptions, clirun, commandlines

    assert clioptions.InputFormat.__module__ == "upload_preds.clioptions"
    assert clioptions.DryRunOpt.__metadata__[0].rich_help_panel == "Upload"
    assert clirun.run_and_render.__module__ == "upload_preds.clirun"
    assert commandlines.resume_command(["a.jsonl", "--api-key", "k", "--no-resume"]) == (
        "upload-preds a.jsonl"
    )
    # cli.py keeps the command; its options are declared in clioptions only.
    assert cli.upload_preds.__module__ == "upload_preds.cli"
    assert "typer.Option(" not in inspect.getsource(cli)
    # The client holds the API's calls; how they are sent is its transport.
    assert issubclass(client.SegmentsClient, apitransport.ApiTransport)
    assert "put_label" in vars(client.SegmentsClient)
    assert "_send_retrying" in vars(apitransport.ApiTransport)
    assert "_send" not in vars(client.SegmentsClient)
    assert client.GZIP_THRESHOLD is apitransport.GZIP_THRESHOLD  # a documented name stays


def test_the_failures_files_live_in_modules_named_after_them() -> None:
    # failures.py keeps the sink and the row formats; the detector formats' files and
    # the words of an entry's error moved out, each where its name says.
    from upload_preds import detectorfailures, failuremessages, failures

    assert detectorfailures.DetectorFailures.__module__ == "upload_preds.detectorfailures"
    assert failures.RowFailures.__module__ == "upload_preds.failures"
    assert failuremessages.first_errors(["a", "b"]) == "a; b"
    assert failuremessages.detection_error.__module__ == "upload_preds.failuremessages"
    assert "detection_error" not in vars(failures)
