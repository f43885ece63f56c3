"""The fix policy: default actions, the keep-one rule, precedence and the TOML policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataclean.errors import DatacleanError
from dataclean.fix.policy import (
    CHECKS,
    DEFAULT_ACTIONS,
    Policy,
    load_policy,
    parse_checks,
    parse_split,
    policy_to_toml,
    propose_actions,
)
from fix_helpers import frame, row


def actions(specs: list[dict], policy: Policy | None = None) -> list[tuple[str, str, str]]:
    out = propose_actions(frame(specs), policy)
    return list(zip(out["path"], out["action"], out["reason"]))


@pytest.mark.parametrize(("issues", "error", "expected"), [
    ("", "", ("keep", "")),
    ("corrupt", "truncated", ("drop", "corrupt: truncated")),
    ("", "decode_error", ("drop", "corrupt: decode_error")),
    ("tf_unreadable", "", ("keep", "flagged: tf_unreadable")),
    ("corrupt", "tf_unsupported", ("keep", "flagged: tf_unreadable")),
    ("misplaced", "", ("review", "misplaced: expected dogs")),
    ("dark", "", ("keep", "flagged: dark")),
    ("bright;low_contrast", "", ("keep", "flagged: bright; flagged: low_contrast")),
    ("resolution", "", ("keep", "flagged: resolution")),
    ("duplicate_filename;naming", "", ("keep", "flagged: naming; flagged: duplicate_filename")),
    ("dark;corrupt", "truncated", ("drop", "corrupt: truncated")),
    ("misplaced;dark", "", ("review", "misplaced: expected dogs")),
    ("label_conflict", "", ("drop", "label_conflict")),
    ("some_future_check", "", ("keep", "flagged: some_future_check")),
], ids=["clean", "corrupt", "error-only", "tf-unreadable", "legacy-tf-unsupported", "misplaced", "dark", "two-marks",
        "resolution", "naming", "drop-beats-mark", "review-beats-mark", "lone-conflict", "unknown-check"])
def test_default_policy_single_file(issues: str, error: str, expected: tuple[str, str]) -> None:
    (result,) = actions([row("cats/a.png", issues=issues, error=error, expected_label="dogs")])
    assert result[1:] == expected


def test_default_actions_table() -> None:
    assert dict(Policy().actions) == dict(DEFAULT_ACTIONS)
    assert [c for c in CHECKS if DEFAULT_ACTIONS[c] == "drop"] == [
        "corrupt", "label_conflict", "missing", "split_leak", "exact_duplicate", "near_duplicate"]
    assert [c for c in CHECKS if DEFAULT_ACTIONS[c] == "review"] == ["misplaced", "unlisted"]


@pytest.mark.parametrize(("specs", "kept", "why"), [
    ([row("cats/a.png", size=(8, 8), bytes=900), row("cats/b.png", size=(16, 8), bytes=100)],
     "cats/b.png", "largest resolution"),
    ([row("cats/a.png", size=(8, 8), bytes=100), row("cats/b.png", size=(8, 8), bytes=900)],
     "cats/b.png", "largest file"),
    ([row("cats/b.png", size=(8, 8)), row("cats/a.png", size=(8, 8))], "cats/a.png", "path order"),
    ([row("cats/z.png", size=(4, 4)), row("cats/a.png", size=(2, 8))], "cats/a.png", "path order"),
], ids=["resolution", "bytes", "path", "equal-pixels-path"])
def test_keep_one_rule(specs: list[dict], kept: str, why: str) -> None:
    for s in specs:
        s.update(issues="near_duplicate", group="g1")
    result = {p: (a, r) for p, a, r in actions(specs)}
    other = next(p for p in result if p != kept)
    assert result[kept] == ("keep", "kept from group g1 (2 files)")
    assert result[other] == ("drop", f"near duplicate of {kept} (kept: {why})")


def mixed_group() -> list[dict]:
    """a, a2: exact copies (same md5); b: near copy at higher resolution; c: corrupt member."""
    return [
        row("cats/a.png", size=(8, 8), md5="m1", issues="exact_duplicate;near_duplicate", group="g1"),
        row("cats/a2.png", size=(8, 8), md5="m1", issues="exact_duplicate;near_duplicate", group="g1"),
        row("cats/b.png", size=(16, 16), md5="m2", issues="near_duplicate", group="g1"),
        row("cats/c.png", size=(32, 32), md5="", issues="corrupt;near_duplicate", group="g1",
            error="truncated"),
        row("cats/d.png"),
    ]


@pytest.mark.parametrize(("exact", "near", "expected"), [
    ("drop", "drop", ["drop", "drop", "keep", "drop", "keep"]),
    ("drop", "review", ["review", "drop", "keep", "drop", "keep"]),
    ("keep", "drop", ["drop", "drop", "keep", "drop", "keep"]),
    ("review", "keep", ["keep", "review", "keep", "drop", "keep"]),
    ("keep", "keep", ["keep", "keep", "keep", "drop", "keep"]),
], ids=["default", "near-review", "exact-keep", "exact-review", "keep-all"])
def test_exact_and_near_policies(exact: str, near: str, expected: list[str]) -> None:
    policy = Policy().with_actions(["exact_duplicate"], exact).with_actions(["near_duplicate"], near)
    assert [a for _, a, _ in actions(mixed_group(), policy)] == expected


def test_mixed_group_reasons() -> None:
    assert actions(mixed_group()) == [
        ("cats/a.png", "drop", "near duplicate of cats/b.png (kept: largest resolution)"),
        ("cats/a2.png", "drop", "near duplicate of cats/b.png (kept: largest resolution)"),
        ("cats/b.png", "keep", "kept from group g1 (4 files)"),
        ("cats/c.png", "drop", "corrupt: truncated"),
        ("cats/d.png", "keep", ""),
    ]


def test_copy_of_reviewed_near_duplicate_names_its_twin() -> None:
    policy = Policy().with_actions(["near_duplicate"], "review")
    assert actions(mixed_group(), policy)[:2] == [
        ("cats/a.png", "review", "near duplicate of cats/b.png (kept: largest resolution)"),
        ("cats/a2.png", "drop", "exact duplicate of cats/a.png (kept: path order)"),
    ]


def conflict_group() -> list[dict]:
    return [row("cats/a.png", issues="exact_duplicate;label_conflict", group="g7", md5="m"),
            row("cats/a_copy.png", issues="exact_duplicate;label_conflict", group="g7", md5="m"),
            row("dogs/a.png", issues="exact_duplicate;label_conflict", group="g7", md5="m")]


@pytest.mark.parametrize("action", ["drop", "review"], ids=["drop", "review"])
def test_label_conflict_never_kept(action: str) -> None:
    policy = Policy().with_actions(["label_conflict"], action)
    assert actions(conflict_group(), policy) == [
        ("cats/a.png", action, "label_conflict: also under dogs"),
        ("cats/a_copy.png", action, "label_conflict: also under dogs"),
        ("dogs/a.png", action, "label_conflict: also under cats"),
    ]


def test_label_conflict_found_even_without_the_flag() -> None:
    specs = [row("cats/a.png", issues="near_duplicate", group="g1"),
             row("dogs/a.png", issues="near_duplicate", group="g1")]
    assert [a for _, a, _ in actions(specs)] == ["drop", "drop"]


@pytest.mark.parametrize("check", ["corrupt", "label_conflict"], ids=["corrupt", "label_conflict"])
def test_policy_refuses_keep_for_unsafe_checks(check: str) -> None:
    with pytest.raises(DatacleanError, match=f"^policy: {check} files cannot be kept; use drop or review$"):
        Policy().with_actions([check], "keep")


def test_review_member_is_not_chosen_as_keeper() -> None:
    specs = [row("cats/a.png", size=(64, 64), issues="near_duplicate;misplaced", group="g2"),
             row("cats/b.png", size=(8, 8), issues="near_duplicate", group="g2")]
    assert [a for _, a, _ in actions(specs)] == ["review", "keep"]


def test_propose_actions_ignores_and_does_not_mutate_input() -> None:
    df = frame([row("cats/a.png", issues="corrupt", error="truncated")])
    df["action"] = "keep"
    out = propose_actions(df)
    assert out["action"].tolist() == ["drop"] and df["action"].tolist() == ["keep"]
    assert list(out.columns) == list(df.columns)


def test_policy_toml_round_trip(tmp_path: Path) -> None:
    policy = Policy(split=(70, 15, 15), seed=7, min_class_size=5).with_actions(["dark"], "review")
    path = tmp_path / "p.toml"
    path.write_text(policy_to_toml(policy), encoding="utf-8")
    assert load_policy(path) == policy


def test_policy_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[actions]\nnear_duplicate = "review"\n[split]\nratios = [60, 20, 20]\nseed = 3\n')
    policy = load_policy(path)
    assert policy.action("near_duplicate") == "review" and policy.action("corrupt") == "drop"
    assert (policy.split, policy.seed, policy.min_class_size) == ((60.0, 20.0, 20.0), 3, 10)


@pytest.mark.parametrize(("text", "message"), [
    ('[actions]\ndark = "delete"\n', "action for dark must be one of keep, review, drop; received: 'delete'"),
    ('[actions]\ndarkness = "drop"\n', "unknown check 'darkness'; known checks: corrupt, label_conflict, "
     "misplaced, missing, split_leak, exact_duplicate, naming, near_duplicate, resolution, unlisted, bright, dark, "
     "duplicate_filename, low_contrast, tf_unreadable"),
    ('[split]\nratios = "80/20"\n', "split must be three non-negative numbers train/val/test with "
     "train > 0, e.g. 80/10/10; received: '80/20'"),
    ('[split]\nseed = -1\n', "seed must be a non-negative integer; received: -1"),
    ('[splits]\n', "unknown table(s) splits; expected actions, split"),
], ids=["bad-action", "bad-check", "bad-split", "bad-seed", "bad-table"])
def test_policy_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(DatacleanError) as info:
        load_policy(path)
    assert str(info.value) == f"policy file {path}: {message}"


def test_policy_file_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[actions\n")
    with pytest.raises(DatacleanError, match=r"is not valid TOML"):
        load_policy(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("80/10/10", (80.0, 10.0, 10.0)), ("0.7/0.3/0", (0.7, 0.3, 0.0)), ([50, 25, 25], (50.0, 25.0, 25.0)),
], ids=["percent", "fractions", "list"])
def test_parse_split(text: object, expected: tuple[float, float, float]) -> None:
    assert parse_split(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["80/10", "0/50/50", "80/-10/30", "a/b/c", "nan/1/1"],
                         ids=["two", "no-train", "negative", "letters", "nan"])
def test_parse_split_rejects(text: str) -> None:
    with pytest.raises(DatacleanError, match="^split must be three"):
        parse_split(text)


@pytest.mark.parametrize(("text", "total"), [("70/10/10", "90"), ("1/1/1", "3"), ("0.8/0.1/0.2", "1.1")],
                         ids=["percent", "ones", "fractions"])
def test_parse_split_must_sum_to_100_or_1(text: str, total: str) -> None:
    with pytest.raises(DatacleanError) as info:
        parse_split(text)
    assert str(info.value) == f"split must sum to 100 (or 1.0), e.g. 80/10/10; received: {text!r}, which sums to {total}"


def test_parse_checks() -> None:
    assert parse_checks(" corrupt, near_duplicate ,") == ["corrupt", "near_duplicate"]
    with pytest.raises(DatacleanError, match="^policy: unknown check 'dup'"):
        parse_checks("dup")


def test_a_newly_registered_check_is_known_to_the_policy_without_other_edits() -> None:
    """One check, one place: the policy's check list and defaults come from the registry."""
    from dataclean.checks import REGISTRY, ordered_checks
    from dataclean.fix.policy import CHECKS, DEFAULT_ACTIONS

    row_level = [s.name for s in ordered_checks() if s.fix_action is not None]
    assert list(CHECKS) == row_level and len(row_level) == len(REGISTRY) - 1  # all but class_imbalance
    assert dict(DEFAULT_ACTIONS) == {s: REGISTRY[s].fix_action for s in row_level}
    assert {c for c, a in DEFAULT_ACTIONS.items() if a == "drop"} == {
        "corrupt", "label_conflict", "missing", "split_leak", "exact_duplicate", "near_duplicate"}
    assert DEFAULT_ACTIONS["misplaced"] == "review"
