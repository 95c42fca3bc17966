import pytest

from geodata.pii import mask_name, mask_phone


@pytest.mark.parametrize("name, masked", [("张三丰", "张**"), ("张三", "张*"), ("欧阳娜娜", "欧***"), (" 李四 ", "李*"), ("王", "王")])
def test_names_keep_only_their_first_character(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_missing_names_and_phones_mask_to_empty_text(empty):
    assert mask_name(empty) == ""
    assert mask_phone(empty) == ""


def test_a_mobile_keeps_its_network_prefix_and_last_four_digits():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("138-1234-1234") == "138****1234"
    assert mask_phone("+86 138 1234 1234") == "138****1234"


def test_other_numbers_keep_only_their_last_four_digits():
    assert mask_phone("057188881234") == "********1234"
    assert mask_phone("0571-8888123") == "*******8123"
    assert mask_phone("110") == "***"


def test_masked_values_never_contain_the_hidden_digits_in_place():
    phone = "19987654321"
    masked = mask_phone(phone)
    assert len(masked) == len(phone)
    assert masked[3:7] == "****" and "8765" not in masked
