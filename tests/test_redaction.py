"""Secret headers are shown masked; others as they are."""

from __future__ import annotations

from playingpack.redaction import mask


def test_mask_hides_secrets_only() -> None:
    assert mask("Authorization", "Bearer sk-proj-abcdefghijklmnop1234") == "Bearer ***1234"
    assert mask("api-key", "short") == "***"
    assert mask("x-api-key", "sk-ant-api03-xxxxxxxxxxxxxxxx9876") == "***9876"
    assert mask("Content-Type", "application/json") == "application/json"


def test_a_cookie_is_masked_whole_even_with_spaces() -> None:
    shown = mask("Cookie", "session=s3cr3t-session-value-1234; theme=dark")
    assert "s3cr3t" not in shown and shown.startswith("***")
