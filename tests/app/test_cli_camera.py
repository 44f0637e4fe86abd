"""`melab camera info` through XIMEA's binding over the libm3api double (an MQ022CG-CM)."""

from __future__ import annotations

import pytest

from app.cli.main import main


def test_camera_info_prints_what_the_camera_reports(m3api, capsys):
    assert main(["camera", "info", "--width", "2040", "--height", "1080"]) == 0
    out = capsys.readouterr().out
    for line in ("model            MQ022CG-CM", "serial           32301551",
                 "CFA              XI_CFA_BAYER_GBRG (stored as bayer_gb8)",
                 "sensor           2048x1088", "ROI              2040x1080",
                 "bandwidth        measured 3,600 Mbit/s, xiAPI limit 3,240 Mbit/s",
                 # The sensor, not the link, limits: 170 fps x 1088 / 1080 rows.
                 "max frame rate   171.3 fps at this ROI",
                 "configured rate  150 fps, needs 2,644 Mbit/s: OK"):
        assert line in out
    assert m3api.cams == {}  # the camera is free again


def test_camera_info_on_a_slow_controller_says_what_to_do(m3api, capsys):
    m3api.reset(bandwidth_mbps=1800, serials=["1", "32301551"])
    assert main(["camera", "info", "--serial", "32301551"]) == 1
    out = capsys.readouterr().out
    assert "max frame rate   90.9 fps" in out
    assert "NOT POSSIBLE: this USB controller measured 1,800 Mbit/s" in out
    assert "use a dedicated USB3 controller" in out
    assert main(["camera", "info", "--height", "600"]) == 0  # a lower ROI fits


@pytest.mark.parametrize(("argv", "message"), [
    (["--offset-x", "3"], "must be even for RAW8"),
    (["--serial", "999"], "No XIMEA camera found with serial number 999"),
])
def test_camera_info_errors_are_one_line_exit_2(m3api, capsys, argv, message):
    assert main(["camera", "info", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("melab camera info: error: ") and message in err
    assert err.count("\n") == 1
