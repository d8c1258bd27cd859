"""The shared bounds: range and type checks before any conversion, messages naming the input."""

import argparse

import pytest

from levitor import limits
from levitor.limits import Bound


def test_check_returns_the_value_in_its_kind():
    assert limits.NUM_FRAMES.check(16) == 16 and isinstance(limits.NUM_FRAMES.check(16.0), int)
    assert limits.BASE_RADIUS.check(0.011) == 0.011
    assert isinstance(limits.RATIO.check(2), float)


@pytest.mark.parametrize("value, text", [
    (0, r"num_frames must be in \[1, 128\]"),
    (129, r"\[1, 128\]"),
    (10 ** 309, r"num_frames must be in \[1, 128\]"),  # no float conversion of a huge int
    (-10 ** 309, r"\[1, 128\]"),
    (float("inf"), "finite"),
    (float("nan"), "finite"),
    (2.5, "must be an integer"),
    (True, "must be an integer"),
    ("16", "must be an integer"),
    (None, "got None"),
])
def test_bad_values_are_value_errors_naming_the_input(value, text):
    with pytest.raises(ValueError, match=text):
        limits.NUM_FRAMES.check(value)


def test_open_lower_end_and_custom_name():
    b = Bound("depth", 0.0, 1.0, lo_open=True)
    assert b.describe() == "(0, 1]" and b.contains(1.0) and not b.contains(0.0) and not b.contains(1.5)
    with pytest.raises(ValueError, match="--frames must be in"):
        limits.NUM_FRAMES.check(0, "--frames")


def test_widget_and_argparse_type():
    assert limits.POINTS_PER_PIXEL.widget() == {"min": 1, "max": 64}
    assert limits.BASE_RADIUS.widget() == {"min": 0.001, "max": 0.2}
    parse = limits.NUM_FRAMES.argparse_type("--frames")
    assert parse("16") == 16 and parse("16.0") == 16
    for text in ("0", "abc", "1e999", "2.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="--frames"):
            parse(text)


def test_image_and_plan_size():
    assert limits.check_image_size(512, 288) == (512, 288)
    with pytest.raises(ValueError, match="image width"):
        limits.check_image_size(0.5, 288)
    with pytest.raises(ValueError, match="resize it"):
        limits.check_image_size(4000, 3000)
    with pytest.raises(ValueError, match="fewer frames"):
        limits.check_plan_size(128, 2048, 2048)
