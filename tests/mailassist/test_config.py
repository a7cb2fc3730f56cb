"""Config: the example documents every key, and wrong keys or values fail with their path."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from mailassist.cli import cli
from mailassist.config import Config, ConfigError, ImapSourceConfig, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        if name == "base_dir":
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _keys(ann, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def _doc_keys(data: dict[str, object], prefix: str = "") -> set[str]:
    out = set()
    for k, v in data.items():
        if isinstance(v, dict) and k != "codes":
            out |= _doc_keys(v, f"{prefix}{k}.")
        else:
            out.add(prefix + k)
    return out


def test_example_config_loads_and_documents_every_key() -> None:
    config = load_config(EXAMPLE)
    assert config.smtp.listen == "127.0.0.1:2525"
    assert config.queue.broker == "memory"
    assert config.code_types == {"OP": "deal"}
    assert config.code_separators == {"OP": ("-",)}
    documented = _doc_keys(tomllib.loads(EXAMPLE.read_text()))
    # [[sources.imap]] is documented commented out (the demo connects to no mailbox): see the next test.
    assert _keys(Config) - {"sources.imap"} == documented


def _commented_imap_block() -> str:
    """The example's commented-out ``[[sources.imap]]`` block, uncommented: every key, with the alternatives."""
    lines = EXAMPLE.read_text().split("# [[sources.imap]]\n", 1)[1].splitlines()
    # "# key = value" is a key; "# # key = value" an alternative to one; "# # words" a comment.
    keys = [line.removeprefix("# ").removeprefix("# ") for line in lines]
    return "\n".join(k for k in keys if re.match(r"^[a-z_]+ = ", k))


def test_the_example_documents_every_imap_source_key_in_its_commented_block() -> None:
    block = tomllib.loads(_commented_imap_block())
    assert set(block) == set(ImapSourceConfig.model_fields)
    # As written (with its password_file and user), the block is a valid source
    given = {k: v for k, v in block.items() if k not in ("password", "team", "submitter")}
    config = parse_config({"sources": {"imap": [given]}})
    (source,) = config.sources.imap
    assert (source.source, source.server_port, source.user) == ("imap:anna", 993, "anna@example.com")


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[store]\nurl = "sqlite:///data/m.db"\nblob_dir = "data/blobs"\n')
    config = load_config(tmp_path / "c.toml")
    assert config.store_url == f"sqlite:///{tmp_path.resolve()}/data/m.db"
    assert config.resolve(config.store.blob_dir) == tmp_path.resolve() / "data/blobs"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[smtp]\nlistn = "x"', "smtp.listn: unknown key; allowed here: listen, hostname"),
        ("[smpt]\n", "smpt: unknown key; allowed here: smtp, assistant"),
        ('[smtp]\nmax_message_size = "big"', "smtp.max_message_size: Input should be a valid integer (got 'big')"),
        ("[smtp]\nmax_message_size = 10", "smtp.max_message_size: Input should be greater than or equal to 1024"),
        ('[smtp]\nlisten = "2525"', "smtp.listen: expected HOST:PORT such as '127.0.0.1:2525', got '2525'"),
        ('[assistant]\naddresses = ["not-an-address"]', "assistant.addresses[0]: not an email address"),
        ("[assistant]\naddresses = []", "assistant.addresses: List should have at least 1 item"),
        ('[queue]\nbroker = "amqp://x"', "queue.broker: expected 'memory' or a redis URL"),
        ('[store]\nurl = "mysql://x"', "store.url: expected 'sqlite:///PATH' or 'postgresql+psycopg://"),
        ('[codes]\nop = "deal"', "codes: code prefix 'op' must be upper-case"),
        ('[codes.OP]\ntype = "deal"\nseparators = ["/"]', "codes.OP.separators[0]: Input should be '-', ' ' or ''"),
        ('[codes.OP]\ntype = "deal"\nseparators = []', "codes.OP.separators: List should have at least 1 item"),
        ('[codes.OP]\nseparators = [" "]', "codes.OP.type: Field required"),
        ('[codes.OP]\ntype = "deal"\nseperators = [" "]', "codes.OP.seperators: unknown key"),
        ('[codes.Q2]\ntype = "deal"\nseparators = [""]', "codes: code prefix 'Q2' ends with a digit, so it needs"),
        ("[codes]\nOP = 5", "codes: code prefix 'OP': a record type such as 'deal', or a table with 'type'"),
        ("[queue]\nmin_backoff = 10\nmax_backoff = 5", "queue.min_backoff: must not exceed queue.max_backoff"),
        ('[logging]\nlevel = "loud"', "logging.level: Input should be 'debug', 'info', 'warning' or 'error'"),
        ("[smtp]\nrequire_tls = true", "smtp.require_tls: needs smtp.tls_cert"),
        ('[smtp]\ntls_key = "key.pem"', "smtp.tls_key: needs smtp.tls_cert"),
        ('[smtp]\nper_ip_exempt = ["localhost"]', "smtp.per_ip_exempt: not an IP network such as '10.0.0.0/8'"),
        ("[smtp]\nmin_data_rate = -1", "smtp.min_data_rate: Input should be greater than or equal to 0"),
    ],
)
def test_bad_config_names_the_key(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(tomllib.loads(toml), source="c.toml")
    assert f"c.toml: {expected}" in str(err.value)


_IMAP = '[[sources.imap]]\nname = "anna"\nhost = "imap.example.com"\nlogin = "anna"\nuser = "anna@example.com"\n'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (_IMAP, "sources.imap[0]: IMAP source 'anna': give exactly one of password and password_file"),
        (_IMAP + 'password = "pw"\ntls = "none"', 'tls = "none" sends the password in clear, so it is allowed only'),
        (_IMAP + 'password = "pw"\nteam = "Support"', 'say whose mailbox it is: user = "ADDRESS"'),
        (_IMAP.replace("user", "team") + 'password = "pw"', "a group mailbox (team) needs submitter"),
        (_IMAP + 'password = "pw"\nfolders = ["INBOX", "INBOX"]', "folders must be distinct"),
        (_IMAP + 'password = "pw"\nmove_to = "INBOX"', "move_to must be a folder that is not polled"),
        (_IMAP + 'password = "pw"\nfetch_since = "last year"', "expected a date such as 2024-01-01"),
        (_IMAP.replace('"anna"', '"a b"', 1) + 'password = "pw"', "name must be letters, digits"),
        (_IMAP + 'password = "pw"\nidle = "yes"', "sources.imap[0].idle: Input should be a valid boolean"),
        (_IMAP + 'password = "pw"\nusr = "x"', "sources.imap[0].usr: unknown key; allowed here: name, host, port"),
        (_IMAP + 'password = "pw"\n' + _IMAP + 'password = "pw"', "another [[sources.imap]] block has this name"),
    ],
)
def test_bad_imap_source_names_the_block(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config(tomllib.loads(toml), source="c.toml")
    assert expected in str(excinfo.value)


def test_a_password_is_never_echoed_in_a_config_error_or_repr() -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config(tomllib.loads(_IMAP + "password = 31415926"), source="c.toml")
    assert str(excinfo.value) == "c.toml: sources.imap[0].password: Input should be a valid string"
    config = parse_config(tomllib.loads(_IMAP + 'password = "Hunter2-Secret"\ntls = "starttls"'))
    assert "Hunter2-Secret" not in repr(config)
    assert config.sources.imap[0].password.get_secret_value() == "Hunter2-Secret"
    assert config.sources.imap[0].server_port == 143
    # tls = "none" is fine to a loopback host
    local = _IMAP.replace("imap.example.com", "127.0.0.1") + 'password = "pw"\ntls = "none"'
    assert parse_config(tomllib.loads(local)).sources.imap[0].tls == "none"


def test_assistant_addresses_are_lower_cased() -> None:
    config = parse_config({"assistant": {"addresses": ["Assistant@CRM.Example.com"]}})
    assert config.assistant.addresses == ["assistant@crm.example.com"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "config file not found"),
        (b"[smtp\n", "invalid TOML"),
        (b"\xff\xfe", "not UTF-8"),
        (b'[web]\nlisten = "nowhere"\n', "web.listen: expected HOST:PORT"),
    ],
)
def test_cli_reports_config_errors_without_traceback(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "c.toml"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(cli, ["--config", str(path), "queue"])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[store]\nurl = "sqlite:///m.db"\nblob_dir = "b"\n')
    monkeypatch.setenv("MAILASSIST_CONFIG", str(path))
    result = CliRunner().invoke(cli, ["queue"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.db").exists()


def test_codes_take_the_short_form_and_tables_with_separators() -> None:
    toml = '[codes]\nOP = "deal"\n[codes.TK]\ntype = "ticket"\nseparators = ["-", " ", "", " "]\n'
    config = parse_config(tomllib.loads(toml), source="c.toml")
    assert config.code_types == {"OP": "deal", "TK": "ticket"}
    assert config.code_separators == {"OP": ("-",), "TK": ("-", " ", "")}
