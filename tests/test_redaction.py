"""Secret headers are shown masked; others as they are."""

from __future__ import annotations

from playingpack.redaction import SECRET_HEADERS, Secret, find_secrets, mask


def test_mask_hides_secrets_only() -> None:
    assert mask("Authorization", "Bearer sk-proj-abcdefghijklmnop1234") == "Bearer ***1234"
    assert mask("api-key", "short") == "***"
    assert mask("x-api-key", "sk-ant-api03-xxxxxxxxxxxxxxxx9876") == "***9876"
    assert mask("Content-Type", "application/json") == "application/json"


def test_a_cookie_is_masked_whole_even_with_spaces() -> None:
    shown = mask("Cookie", "session=s3cr3t-session-value-1234; theme=dark")
    assert "s3cr3t" not in shown and shown.startswith("***")


def test_find_secrets_says_what_and_where_without_the_value() -> None:
    data = (
        '{\n  "a": "sk-' + "x1" * 12 + '",\n  "api_key": "short",\n'
        '  "authorization": "Bearer ***abcd",\n  "c": "Bearer ' + "t" * 24 + '"\n}'
    ).encode()
    assert find_secrets(data) == [
        Secret("an API key", 2, "…x1x1"),
        Secret("a 'api_key' field", 3, "value not shown"),
        Secret("a bearer token", 5, "…tttt"),
    ]
    assert find_secrets(b'{"text": "sk-short, task-' + b"x" * 30 + b'"}') == []


def test_find_secrets_reads_names_and_schemes_in_any_case() -> None:
    # The Kelvin sign lowers to an ASCII k; the bytes searched first must not miss it.
    data = '{\n  "X-API-\u212aEY": "a-real-looking-secret",\n  "Cookie": "s=abcdefgh1234"\n}'
    text = "é\nAuthorization: BEARER " + "t" * 24 + "\nAKIA" + "A" * 16
    assert find_secrets(data.encode()) == [
        Secret("a 'x-api-key' field", 2, "…cret"),
        Secret("a 'cookie' field", 3, "…1234"),
    ]
    assert find_secrets(text.encode()) == [
        Secret("a bearer token", 2, "…tttt"),
        Secret("an AWS access key id", 3, "…AAAA"),
    ]
    assert find_secrets(b'{"model": "gpt-4o", "messages": [{"role": "user"}]}') == []


def test_find_secrets_finds_every_secret_header_as_a_field() -> None:
    for name in sorted(SECRET_HEADERS):
        for written in (name, name.replace("-", "_"), name.upper()):
            data = f'{{"{written}": "abcdefgh12345"}}'.encode()
            assert find_secrets(data) == [Secret(f"a {written.lower()!r} field", 1, "…2345")]
