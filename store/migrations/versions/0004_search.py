"""search: full-text side table kept by triggers, and the index the message list is sorted by


``messages_fts`` holds one row per message: on SQLite an FTS5 table, on PostgreSQL a tsvector with a GIN index.
Triggers fill it when a message or a participant is inserted (and empty it when a message is deleted), so the
writers (apply, relink) do not know it exists; existing mail is indexed here. The models do not declare it:
``store.search.include_name`` keeps autogenerate away from it. A body is indexed up to its 100,000th character,
which bounds the triggers' work and PostgreSQL's tsvector size.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_LOWER_FOLD = {
    **dict.fromkeys("ąáăâàä", "a"),
    **dict.fromkeys("ćčç", "c"),
    "ď": "d",
    **dict.fromkeys("ęéěèêë", "e"),
    **dict.fromkeys("íîï", "i"),
    **dict.fromkeys("łĺľ", "l"),
    **dict.fromkeys("ńň", "n"),
    **dict.fromkeys("óöôő", "o"),
    "ŕ": "r",
    "ř": "r",
    **dict.fromkeys("śšșşß", "s"),
    **dict.fromkeys("ťțţ", "t"),
    **dict.fromkeys("úůüùûű", "u"),
    **dict.fromkeys("ýÿ", "y"),
    **dict.fromkeys("źżž", "z"),
}
#: PostgreSQL folding, as ``translate()`` arguments: diacritics of both cases to plain letters, and the punctuation
#: of addresses and URLs to spaces (else the parser keeps ``piotr@acme.pl`` as one token and "piotr" misses it).
_FOLD = {
    **_LOWER_FOLD,
    **{k.upper(): v for k, v in _LOWER_FOLD.items() if len(k.upper()) == 1},
    **dict.fromkeys("@._-+/=?&#~", " "),
}
FOLD_FROM = "".join(_FOLD)
FOLD_TO = "".join(_FOLD.values())

SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(subject, body_text, addresses, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    """CREATE TRIGGER messages_fts_message_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, subject, body_text, addresses)
        VALUES (new.id, coalesce(new.subject, ''), substr(coalesce(new.body_text, ''), 1, 100000),
                coalesce(new.from_name, '') || ' ' || coalesce(new.from_address, ''));
    END""",
    """CREATE TRIGGER messages_fts_message_delete AFTER DELETE ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER messages_fts_participant_insert AFTER INSERT ON participants BEGIN
        UPDATE messages_fts SET addresses = addresses || ' ' || new.address || ' ' || coalesce(new.name, '')
        WHERE rowid = new.message_id;
    END""",
    """INSERT INTO messages_fts (rowid, subject, body_text, addresses)
        SELECT m.id, coalesce(m.subject, ''), substr(coalesce(m.body_text, ''), 1, 100000),
               coalesce(m.from_name, '') || ' ' || coalesce(m.from_address, '') || ' ' || coalesce(
                   (SELECT group_concat(p.address || ' ' || coalesce(p.name, ''), ' ')
                    FROM participants p WHERE p.message_id = m.id), '')
        FROM messages m""",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER messages_fts_participant_insert",
    "DROP TRIGGER messages_fts_message_delete",
    "DROP TRIGGER messages_fts_message_insert",
    "DROP TABLE messages_fts",
]

POSTGRES_UPGRADE = [
    f"""CREATE FUNCTION messages_fts_fold(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT lower(translate(coalesce(value, ''), '{FOLD_FROM}', '{FOLD_TO}')) $$""",
    """CREATE FUNCTION messages_fts_vector(value text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT to_tsvector('simple', messages_fts_fold(value)) $$""",
    """CREATE TABLE messages_fts (
        message_id integer NOT NULL,
        document tsvector NOT NULL,
        CONSTRAINT pk_messages_fts PRIMARY KEY (message_id),
        CONSTRAINT fk_messages_fts_message_id_messages FOREIGN KEY (message_id)
            REFERENCES messages (id) ON DELETE CASCADE
    )""",
    "CREATE INDEX ix_messages_fts_document ON messages_fts USING gin (document)",
    """CREATE FUNCTION messages_fts_add_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO messages_fts (message_id, document) VALUES (NEW.id, messages_fts_vector(
            concat_ws(' ', NEW.from_name, NEW.from_address, NEW.subject, left(NEW.body_text, 100000))));
        RETURN NULL;
    END $$""",
    # Prepended, not appended: positions past 16383 collapse, and an address must stay a phrase after a long body.
    """CREATE FUNCTION messages_fts_add_participant() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE messages_fts SET document = messages_fts_vector(concat_ws(' ', NEW.address, NEW.name)) || document
        WHERE message_id = NEW.message_id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER messages_fts_message_insert AFTER INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION messages_fts_add_message()""",
    """CREATE TRIGGER messages_fts_participant_insert AFTER INSERT ON participants
        FOR EACH ROW EXECUTE FUNCTION messages_fts_add_participant()""",
    """INSERT INTO messages_fts (message_id, document)
        SELECT m.id,
               messages_fts_vector((SELECT string_agg(concat_ws(' ', p.address, p.name), ' ' ORDER BY p.id)
                                    FROM participants p WHERE p.message_id = m.id))
               || messages_fts_vector(concat_ws(' ', m.from_name, m.from_address, m.subject,
                                                left(m.body_text, 100000)))
        FROM messages m""",
]
POSTGRES_DOWNGRADE = [
    "DROP TRIGGER messages_fts_participant_insert ON participants",
    "DROP TRIGGER messages_fts_message_insert ON messages",
    "DROP FUNCTION messages_fts_add_participant()",
    "DROP FUNCTION messages_fts_add_message()",
    "DROP TABLE messages_fts",
    "DROP FUNCTION messages_fts_vector(text)",
    "DROP FUNCTION messages_fts_fold(text)",
]


def _run(statements: list[str]) -> None:
    # exec_driver_sql: the DDL goes to the driver as written (no bind-parameter parsing of ':' or '%').
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    op.create_index("ix_messages_sort", "messages", [sa.text("coalesce(date, created_at)"), "id"], unique=False)
    _run(SQLITE_UPGRADE if op.get_bind().dialect.name == "sqlite" else POSTGRES_UPGRADE)


def downgrade() -> None:
    _run(SQLITE_DOWNGRADE if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWNGRADE)
    op.drop_index("ix_messages_sort", table_name="messages")
