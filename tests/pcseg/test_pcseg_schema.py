"""``--print-schema`` documents the point label and mask frame rows the converter accepts."""

from __future__ import annotations

from upload_preds.convert import bitmaps, pcseg, segsequences
from upload_preds.pcsegschema import MaskFrameRow, PointLabelsAnnotation, PointLabelsRow
from upload_preds.rowschema import row_json_schema


def test_schema_lists_the_rows() -> None:
    schema = row_json_schema()
    refs = {item["$ref"].rsplit("/", 1)[1] for item in schema["anyOf"]}
    assert {"PointLabelsRow", "MaskFrameRow"} <= refs
    for name in ("PointLabelsRow", "MaskFrameRow", "PointLabelsAnnotation"):
        for field, prop in schema["$defs"][name]["properties"].items():
            assert prop.get("description"), (name, field)


def test_schema_fields_are_the_converters() -> None:
    # A single point cloud's row: the common fields, the file and its annotations; with
    # 'frame' it is a sequence frame (which has no score or status of its own).
    single = {"sample_uuid", "sample_name", "labelset", "score", "label_status"}
    single |= pcseg.POINT_ROW_KEYS | {"annotations", "image_attributes"}
    # A frame row of a multi-sensor dataset also names its sensor.
    sensor = {segsequences.SENSOR_FIELD}
    frame_row = segsequences.ROW_KEYS["pointcloud-segmentation"]
    assert set(PointLabelsRow.model_fields) == single | frame_row | sensor
    assert set(MaskFrameRow.model_fields) == segsequences.ROW_KEYS["segmentation-bitmap"] | sensor
    assert set(PointLabelsAnnotation.model_fields) == bitmaps.MASK_FILE_ANN_KEYS
