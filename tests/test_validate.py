import pytest
import torch

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_event, check_images, check_labels

SHAPE, LEVELS = (1, 2, 3), 3


def test_valid_images_come_back_as_long():
    x = torch.zeros(4, *SHAPE, dtype=torch.uint8)
    assert check_images(x, SHAPE, LEVELS).dtype == torch.long


@pytest.mark.parametrize("x, words", [
    (torch.zeros(2, *SHAPE), "dtype torch.float32"),
    (torch.zeros(2, *SHAPE, dtype=torch.bool), "dtype torch.bool"),
    (torch.zeros(2, 1, 3, 2, dtype=torch.long), "shape (2, 1, 3, 2)"),
    (torch.zeros(1, 2, 3, dtype=torch.long), "shape (1, 2, 3)"),
    (torch.full((2, *SHAPE), 3), "values in [3, 3]"),
    (torch.full((2, *SHAPE), -1), "values in [-1, -1]"),
    ([[0]], "got list"),
])
def test_bad_images_raise_invalid_input_naming_expected_and_given(x, words):
    with pytest.raises(InvalidInput) as caught:
        check_images(x, SHAPE, LEVELS)
    message = str(caught.value)
    assert "(B, 1, 2, 3)" in message and "[0, 3)" in message and words in message


def test_invalid_input_is_a_value_error():
    with pytest.raises(ValueError):
        check_images(torch.zeros(1, *SHAPE), SHAPE, LEVELS)


@pytest.mark.parametrize("y, batch, words", [
    (torch.tensor([0, 2]), None, "labels in [0, 2]"),
    (torch.tensor([-1, 0]), None, "labels in [-1, 0]"),
    (torch.tensor([0.0, 1.0]), None, "dtype torch.float32"),
    (torch.tensor([[0, 1]]), None, "shape (1, 2)"),
    (torch.tensor([0, 1, 1]), 2, "shape (3,)"),
])
def test_bad_labels_raise_invalid_input(y, batch, words):
    with pytest.raises(InvalidInput, match=r"\[0, 2\)") as caught:
        check_labels(y, 2, batch)
    assert words in str(caught.value)


def test_good_labels_pass():
    assert check_labels(torch.tensor([0, 1], dtype=torch.uint8), 2, 2).dtype == torch.long


@pytest.mark.parametrize("shape, levels, classes", [((1, 2), 3, None), ((1, 0, 2), 3, None), ((1, 2, 3), 1, None),
                                                    ((1, 2, 3), 3, 0), ((1, 2.0, 3), 3, None)])
def test_bad_event_arguments_are_refused(shape, levels, classes):
    with pytest.raises(InvalidInput):
        check_event(shape, levels, classes)


def test_class_names_default_to_numbers_and_must_be_one_string_per_class():
    from zoo_core.validate import check_class_names

    assert check_class_names(None, 3) == ["0", "1", "2"]
    assert check_class_names(("a", "b"), 2) == ["a", "b"]
    for bad in (["a"], ["a", 2], "ab"):
        with pytest.raises(InvalidInput, match="class_names must be 2 strings"):
            check_class_names(bad, 2)
