"""per_image.csv tables read back ids as text: "NA", "null" or "1_1_6" are image ids."""

from __future__ import annotations

import math
from pathlib import Path

from bus_seg.evaluation.run_files import read_per_image


def test_ids_that_look_missing_stay_ids_and_empty_scores_stay_nan(tmp_path: Path) -> None:
    path = tmp_path / "per_image.csv"
    path.write_text("image_id,patient_id,dice\nNA,null,0.5\n1_1_6,N/A,\n")
    table = read_per_image(path)
    assert table["image_id"].tolist() == ["NA", "1_1_6"]
    assert table["patient_id"].tolist() == ["null", "N/A"]
    assert table["dice"].iloc[0] == 0.5 and math.isnan(table["dice"].iloc[1])
