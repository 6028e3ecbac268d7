"""Never trust the input: a corpus of malformed files and samples, and attribute decoding."""

import os
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from malformed_corpus import (
    BAD_GROUPS,
    EMPTY_FIELD,
    FILE_PROBLEMS,
    GOOD_GROUPS,
    METADATA_GROUPS,
    write_corpus,
    write_groups,
)
from ornl_samples import build_meta, build_stack

from cbedfeat.data import (
    BadAttributeError,
    CBEDDataError,
    FileOpenError,
    MissingAttributeError,
    Problem,
    ReadError,
    iter_samples,
    read_sample,
)
from cbedfeat.data.ornl_write import encode_attribute
from cbedfeat.data.schema import attribute_schema
from cbedfeat.data.validate import GARBAGE_ABS, decode_attribute

SCHEMA = attribute_schema()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A batch directory mixing good samples, bad samples and files that do not open."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def test_non_strict_reads_every_good_sample_and_records_every_bad_one(corpus):
    problems: list[Problem] = []
    got = [(os.path.basename(m.file), m.group) for _, m in iter_samples(corpus, problems=problems)]
    assert got == [
        ("batch_test_0.h5", "sample_7_0"),
        ("batch_test_0.h5", "sample_7_1"),
        *(("batch_train_0.h5", g) for g in GOOD_GROUPS),
        ("batch_train_1.h5", "sample_5_1"),
    ]
    by_key = {(os.path.basename(p.file), p.group): p for p in problems}
    assert len(by_key) == len(problems) == len(BAD_GROUPS) + len(FILE_PROBLEMS) + 2
    for group, (_, error, text) in BAD_GROUPS.items():
        p = by_key[("batch_train_0.h5", group)]
        assert p.kind == error.kind and text in p.reason, (group, p)
    assert by_key[("batch_train_0.h5", "sample_4_0")].kind == "missing"
    assert by_key[("batch_train_1.h5", "sample_5_0")].kind == "read"
    for name, text in FILE_PROBLEMS.items():
        p = by_key[(name, None)]
        assert p.kind == "file_open" and text in p.reason, p


def test_without_required_metadata_every_usable_pattern_is_read(corpus):
    """Metadata problems empty one field each; pattern problems still skip the sample."""
    problems: list[Problem] = []
    samples = {
        (os.path.basename(m.file), m.group): (s, m)
        for s, m in iter_samples(corpus, problems=problems, require_metadata=False)
    }
    assert set(METADATA_GROUPS) == set(EMPTY_FIELD)
    expected = {("batch_train_0.h5", g) for g in [*GOOD_GROUPS, *METADATA_GROUPS]} | {
        ("batch_test_0.h5", "sample_7_0"),
        ("batch_test_0.h5", "sample_7_1"),
        ("batch_train_1.h5", "sample_5_1"),
    }
    assert set(samples) == expected
    for group, (_, error, text) in METADATA_GROUPS.items():
        stack, meta = samples[("batch_train_0.h5", group)]
        assert stack.shape == (3, 8, 8) and not meta.labelled
        assert getattr(meta, EMPTY_FIELD[group]) is None, group
        assert [p.kind for p in meta.problems] == [error.kind] and text in meta.problems[0].reason
        assert meta.problems[0].about_metadata and meta.problems[0].group == group
        assert meta.material is None or meta.material == "mp-1000"  # other fields are kept
    good = samples[("batch_train_0.h5", "sample_0_0")][1]
    assert good.labelled and good.problems == () and good.space_group == 14
    # Pattern problems: skipped and recorded exactly as with required metadata.
    assert not any(p.about_metadata for p in problems)
    skipped = {(os.path.basename(p.file), p.group) for p in problems}
    assert {g for f, g in skipped if f == "batch_train_0.h5"} == {
        *(set(BAD_GROUPS) - set(METADATA_GROUPS)),
        "sample_4_0",
    }
    assert len(problems) == len(BAD_GROUPS) - len(METADATA_GROUPS) + 1 + len(FILE_PROBLEMS) + 1


def test_a_bare_stack_has_one_metadata_problem(tmp_path):
    path = tmp_path / "batch_test_0.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("sample_0_0/cbed_stack", data=build_stack(size=8))
    stack, meta = read_sample(path, "sample_0_0", require_metadata=False)
    assert stack.shape == (3, 8, 8) and meta.space_group is None and meta.formula is None
    assert [(p.kind, p.reason) for p in meta.problems] == [
        ("missing_attribute", "no metadata attributes (an unlabelled sample)")
    ]
    with pytest.raises(MissingAttributeError, match="'space_group' is missing"):
        read_sample(path, "sample_0_0")


@pytest.mark.parametrize("group", list(BAD_GROUPS))
def test_strict_raises_the_documented_error_naming_file_and_group(corpus, group):
    _, error, text = BAD_GROUPS[group]
    path = corpus / "batch_train_0.h5"
    with pytest.raises(error) as info:
        read_sample(path, group)
    assert str(path) in str(info.value) and group in str(info.value) and text in str(info.value)
    assert (info.value.file, info.value.group) == (str(path), group)
    assert isinstance(info.value, CBEDDataError)


@pytest.mark.parametrize("name", list(FILE_PROBLEMS))
def test_strict_file_that_does_not_open(corpus, name):
    with pytest.raises(FileOpenError) as info:
        list(iter_samples(corpus / name, strict=True))
    assert str(corpus / name) in str(info.value) and info.value.group is None


def test_strict_damaged_chunk_is_a_read_error(corpus):
    with pytest.raises(ReadError, match="sample_5_0"):
        read_sample(corpus / "batch_train_1.h5", "sample_5_0")
    # Random access to the intact neighbour never touches the damaged chunk.
    assert read_sample(corpus / "batch_train_1.h5", "sample_5_1").stack.shape == (3, 32, 32)


def test_strict_iteration_stops_at_the_first_problem(corpus):
    seen = []
    with pytest.raises(CBEDDataError):
        for _, meta in iter_samples(corpus, strict=True):
            seen.append(meta.group)
    assert seen == []  # batch_dev_1.h5 (truncated) comes first in natural order


def test_metadata_only_still_checks_stack_layout(corpus):
    problems: list[Problem] = []
    list(iter_samples(corpus / "batch_train_0.h5", problems=problems, load_stack=False))
    kinds = {p.group: p.kind for p in problems}
    assert kinds["sample_1_0"] == kinds["sample_1_5"] == "bad_stack"  # shape, dtype: checked
    assert "sample_1_3" not in kinds  # NaN values: only seen when the stack is read


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission bits")
def test_permission_denied_is_a_file_problem(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    write_groups(path, ["sample_0_0"])
    path.chmod(0)
    problems: list[Problem] = []
    assert list(iter_samples(path, problems=problems)) == []
    assert [p.kind for p in problems] == ["file_open"]


def test_permission_denied_as_root_too(tmp_path, monkeypatch):
    """Root ignores permission bits, so make the open fail the way HDF5 reports EACCES."""
    write_groups(tmp_path / "batch_train_0.h5", ["sample_0_0"])
    write_groups(tmp_path / "batch_train_1.h5", ["sample_1_0"])
    real_file = h5py.File

    def file(path, *args, **kwargs):
        if str(path).endswith("batch_train_0.h5"):
            raise PermissionError(13, "Unable to synchronously open file: Permission denied")
        return real_file(path, *args, **kwargs)

    monkeypatch.setattr("cbedfeat.data.ornl.h5py.File", file)
    problems: list[Problem] = []
    assert [m.group for _, m in iter_samples(tmp_path, problems=problems)] == ["sample_1_0"]
    assert [(os.path.basename(p.file), p.kind) for p in problems] == [
        ("batch_train_0.h5", "file_open")
    ]
    assert "Permission denied" in problems[0].reason
    with pytest.raises(FileOpenError, match="Permission denied"):
        read_sample(tmp_path / "batch_train_0.h5", "sample_0_0")


def test_problems_without_a_list_are_logged(corpus, tmp_path, caplog):
    shutil.copy(corpus / "batch_dev_2.h5", tmp_path / "batch_dev_2.h5")
    assert list(iter_samples(tmp_path)) == []
    assert "batch_dev_2.h5" in caplog.text and "file_open" in caplog.text


def test_problem_and_error_convert_both_ways():
    err = BadAttributeError("f.h5", "sample_1_2", "attribute 'x' is bad")
    p = err.to_problem()
    assert p == Problem("f.h5", "sample_1_2", "attribute 'x' is bad", "bad_attribute")
    back = p.to_error()
    assert (
        type(back) is BadAttributeError
        and str(back) == str(err) == "f.h5 [sample_1_2]: attribute 'x' is bad"
    )


# ---- property-based tests of attribute decoding -------------------------------------------

SG = SCHEMA["space_group"]
ABC = SCHEMA["abc_angstrom"]
FORMULA = SCHEMA["formula"]
Z_DIRS = SCHEMA["z_dirs"]


def _encodings_of_int(n):
    return [
        str(n).encode(),
        np.bytes_(str(n).encode()),
        str(n),
        f"  {n} ",
        np.str_(str(n)),
        n,
        np.int64(n),
        np.int32(n),
        np.uint16(n),
        float(n),
        np.float64(n),
        np.array(str(n).encode()),
    ]


@given(st.integers(1, 230))
def test_space_group_decodes_from_every_encoding(n):
    for raw in _encodings_of_int(n):
        assert decode_attribute(raw, SG) == n
        assert type(decode_attribute(raw, SG)) is int


@given(st.integers(-(10**6), 10**6).filter(lambda n: not 1 <= n <= 230))
def test_space_group_out_of_range_is_refused(n):
    for raw in (str(n).encode(), np.int64(n)):
        with pytest.raises(ValueError, match="out of range"):
            decode_attribute(raw, SG)


@given(
    st.text(min_size=0, max_size=8).filter(
        lambda s: not s.strip().lstrip("+-").isascii() or not s.strip().lstrip("+-").isdigit()
    )
)
def test_non_numeric_space_group_text_is_refused(text):
    with pytest.raises(ValueError):
        decode_attribute(text.encode("utf-8", "surrogatepass"), SG)


# NUL is left out: HDF5 fixed-length strings (numpy.bytes_) cannot end in one.
@given(
    st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="\0"), min_size=1, max_size=30
    ).filter(lambda s: s.strip())
)
def test_formula_text_survives_bytes_and_str(text):
    assert decode_attribute(text, FORMULA) == text
    assert decode_attribute(text.encode("utf-8"), FORMULA) == text
    assert decode_attribute(np.bytes_(text.encode("utf-8")), FORMULA) == text


@given(st.binary(min_size=1, max_size=20))
def test_bytes_decode_iff_valid_utf8(raw):
    try:
        expected = raw.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(ValueError, match="UTF-8"):
            decode_attribute(raw, FORMULA)
        return
    if expected.strip():
        assert decode_attribute(raw, FORMULA) == expected
    else:
        with pytest.raises(ValueError, match="empty"):
            decode_attribute(raw, FORMULA)


_lattice = st.floats(0.5, 100.0, exclude_min=True, exclude_max=True)


@given(
    st.lists(_lattice, min_size=3, max_size=3),
    st.sampled_from([np.float32, np.float64, np.longdouble]),
)
def test_float_arrays_decode_to_float64_in_any_width(values, dtype):
    raw = np.array(values, dtype=dtype)
    if np.any(raw <= 0.5) or np.any(raw >= 100.0):  # float32 rounding may reach a bound
        return
    out = decode_attribute(raw, ABC)
    assert out.dtype == np.float64 and out.shape == (3,)
    np.testing.assert_array_equal(out, raw.astype(np.float64))


@given(
    st.floats(min_value=5e-324, max_value=GARBAGE_ABS, exclude_max=True),
    st.integers(0, 2),
    st.booleans(),
    st.sampled_from([np.float64, np.longdouble]),
)
def test_garbage_floats_are_flagged(tiny, where, negative, dtype):
    values = np.array([5.0, 6.0, 7.0], dtype=dtype)
    values[where] = -tiny if negative else tiny
    with pytest.raises(ValueError, match="garbage"):
        decode_attribute(values, ABC)


@given(
    st.lists(st.integers(-9, 9), min_size=9, max_size=9).filter(
        lambda v: all(any(v[3 * r : 3 * r + 3]) for r in range(3))
    )
)
def test_z_dirs_accept_integral_floats_and_round_trip(values):
    ints = np.array(values).reshape(1, 3, 3)
    np.testing.assert_array_equal(decode_attribute(ints.astype(np.float64), Z_DIRS), ints)
    np.testing.assert_array_equal(decode_attribute(encode_attribute(ints[0], Z_DIRS), Z_DIRS), ints)


@given(
    st.integers(1, 230),
    st.integers(10, 1000),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
        lambda s: s.strip() and "\0" not in s
    ),
)
def test_encode_then_decode_is_identity(sg, energy, material):
    meta = build_meta(space_group=sg, energy_keV=energy, material=material)
    for name, spec in SCHEMA.items():
        decoded = decode_attribute(encode_attribute(getattr(meta, name), spec), spec)
        expected = getattr(meta, name)
        if isinstance(decoded, np.ndarray):
            np.testing.assert_array_equal(decoded.reshape(np.shape(expected)), expected)
        else:
            assert decoded == expected and type(decoded) is type(expected)
