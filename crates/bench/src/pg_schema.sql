-- The PostgreSQL side of the benchmark: what a team would build for dunghan's job on
-- PostgreSQL 15. Event kinds are the field numbers of the `kind` oneof of dunghan.v1.Event
-- (10 submitted, 11 received, 12 not accepted, 13 handed over, 22 extended, 23 withdrawn,
-- 24 stopped, 25 rejected, 26 resolved; the others are stored and change nothing here).
-- Channels are dunghan.v1.Channel numbers (1 in person, 2 online, 3 postal).
-- Verdicts: 1 early, 2 on time, 3 late.

-- pending_rollup is a per-session temporary table: function bodies that name it are checked
-- when they run, not when they are created.
SET check_function_bodies = off;

CREATE TABLE units (
    unit_id  text PRIMARY KEY,
    parent_id text,
    -- The unit's ancestor one level below the province: the row of province-wide stats.
    top_unit text
);

-- Every event once: the unique event id is the dedupe, the content hash tells a harmless
-- duplicate from a conflict. The payload is the event's protobuf encoding (the timeline).
CREATE TABLE events (
    event_id     text PRIMARY KEY,
    file_id      text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    kind         smallint NOT NULL,
    content_hash bytea NOT NULL,
    payload      bytea NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_file ON events (file_id, occurred_at);

-- A file's current state. Status: 0 submitted, 1 open, 2 finished, 3 not accepted.
CREATE TABLE files (
    file_id           text PRIMARY KEY,
    procedure_code    text,
    field_code        text,
    channel           smallint,
    receiving_unit    text,
    receiving_officer text,
    received_at       timestamptz,
    -- Computed by the loader with dunghan's own due-time function (no pauses).
    due_at            timestamptz,
    extended_due_at   timestamptz,
    holder_officer    text,
    holder_unit       text,
    status            smallint NOT NULL,
    finished_at       timestamptz,
    verdict           smallint,
    late_seconds      bigint
);
CREATE INDEX files_open ON files (receiving_unit) WHERE status = 1;
CREATE INDEX files_by_receipt ON files (received_at);
CREATE INDEX files_by_finish ON files (finished_at);

-- Who held a file from when: the holder at the due time answers for a late file.
CREATE TABLE holds (
    file_id    text NOT NULL,
    since      timestamptz NOT NULL,
    officer_id text,
    unit_id    text,
    PRIMARY KEY (file_id, since)
);

-- Late files charged to the officer holding them at their due time.
CREATE TABLE attribution (
    file_id      text PRIMARY KEY,
    officer_id   text,
    unit_id      text,
    late_seconds bigint NOT NULL,
    finished_at  timestamptz NOT NULL
);

-- Additive counters by local day, receiving unit, field and channel: receipts on the receipt
-- day, verdicts on the finish day. Updated in the event's transaction.
CREATE TABLE rollup (
    day          date NOT NULL,
    unit_id      text NOT NULL,
    field_code   text NOT NULL,
    channel      smallint NOT NULL,
    received     bigint NOT NULL DEFAULT 0,
    early        bigint NOT NULL DEFAULT 0,
    on_time      bigint NOT NULL DEFAULT 0,
    late         bigint NOT NULL DEFAULT 0,
    late_seconds bigint NOT NULL DEFAULT 0,
    not_counted  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, unit_id, field_code, channel)
);

CREATE TABLE alerts (
    sequence bigserial PRIMARY KEY,
    file_id  text NOT NULL,
    kind     smallint NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT now(),
    detail   text NOT NULL
);

-- The local day (Vietnam, UTC+7) of an instant.
CREATE FUNCTION dh_day(at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (at AT TIME ZONE INTERVAL '+07:00')::date $$;

-- The counter changes of the current transaction, applied by dh_flush_rollup before commit
-- in key order: concurrent transactions then lock shared counter rows in the same order and
-- never deadlock (a per-event upsert locked them in event order, and deadlocked at once).
-- The session's own copy is created by dh_open_session, as a temporary table.
CREATE FUNCTION dh_open_session() RETURNS void
LANGUAGE sql AS $$
    CREATE TEMPORARY TABLE IF NOT EXISTS pending_rollup (
        day          date NOT NULL,
        unit_id      text NOT NULL,
        field_code   text NOT NULL,
        channel      smallint NOT NULL,
        received     bigint NOT NULL DEFAULT 0,
        early        bigint NOT NULL DEFAULT 0,
        on_time      bigint NOT NULL DEFAULT 0,
        late         bigint NOT NULL DEFAULT 0,
        late_seconds bigint NOT NULL DEFAULT 0,
        not_counted  bigint NOT NULL DEFAULT 0
    ) ON COMMIT DELETE ROWS
$$;

CREATE FUNCTION dh_flush_rollup() RETURNS void
LANGUAGE sql AS $$
    INSERT INTO rollup AS r (day, unit_id, field_code, channel, received, early, on_time,
                             late, late_seconds, not_counted)
    SELECT day, unit_id, field_code, channel, sum(received), sum(early), sum(on_time),
           sum(late), sum(late_seconds), sum(not_counted)
    FROM pending_rollup
    GROUP BY day, unit_id, field_code, channel
    ORDER BY day, unit_id, field_code, channel
    ON CONFLICT (day, unit_id, field_code, channel) DO UPDATE
    SET received = r.received + EXCLUDED.received, early = r.early + EXCLUDED.early,
        on_time = r.on_time + EXCLUDED.on_time, late = r.late + EXCLUDED.late,
        late_seconds = r.late_seconds + EXCLUDED.late_seconds,
        not_counted = r.not_counted + EXCLUDED.not_counted;
    DELETE FROM pending_rollup;
$$;

-- Ingests one event; returns 1 accepted, 2 duplicate, 3 conflict. The caller runs
-- dh_flush_rollup before its transaction commits (dh_ingest_one does both).
CREATE FUNCTION dh_ingest(
    p_event_id text, p_file_id text, p_at timestamptz, p_kind smallint,
    p_hash bytea, p_payload bytea,
    p_procedure text, p_field text, p_channel smallint,
    p_unit text, p_officer text,
    -- Received: the due time and the appointment; extended: the new due time.
    p_due timestamptz, p_extra timestamptz
) RETURNS smallint
LANGUAGE plpgsql AS $$
DECLARE
    v_due      timestamptz;
    v_verdict  smallint;
    v_late     bigint;
    v_unit     text;
    v_field    text;
    v_channel  smallint;
BEGIN
    INSERT INTO events (event_id, file_id, occurred_at, kind, content_hash, payload)
    VALUES (p_event_id, p_file_id, p_at, p_kind, p_hash, p_payload)
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        IF (SELECT content_hash FROM events WHERE event_id = p_event_id) = p_hash THEN
            RETURN 2;
        END IF;
        INSERT INTO alerts (file_id, kind, detail)
        VALUES (p_file_id, 16, 'event ' || p_event_id || ' conflicts with the stored one');
        RETURN 3;
    END IF;

    IF p_kind = 10 THEN
        INSERT INTO files (file_id, procedure_code, field_code, channel, status)
        VALUES (p_file_id, p_procedure, p_field, p_channel, 0)
        ON CONFLICT (file_id) DO NOTHING;
    ELSIF p_kind = 11 THEN
        INSERT INTO files AS f (file_id, procedure_code, field_code, channel, receiving_unit,
                                receiving_officer, received_at, due_at, holder_officer,
                                holder_unit, status)
        VALUES (p_file_id, p_procedure, p_field, p_channel, p_unit, p_officer, p_at, p_due,
                p_officer, p_unit, 1)
        ON CONFLICT (file_id) DO UPDATE
        SET procedure_code = EXCLUDED.procedure_code, field_code = EXCLUDED.field_code,
            channel = EXCLUDED.channel, receiving_unit = EXCLUDED.receiving_unit,
            receiving_officer = EXCLUDED.receiving_officer, received_at = EXCLUDED.received_at,
            due_at = EXCLUDED.due_at, holder_officer = EXCLUDED.holder_officer,
            holder_unit = EXCLUDED.holder_unit, status = 1;
        INSERT INTO holds VALUES (p_file_id, p_at, p_officer, p_unit)
        ON CONFLICT DO NOTHING;
        INSERT INTO pending_rollup (day, unit_id, field_code, channel, received)
        VALUES (dh_day(p_at), p_unit, p_field, p_channel, 1);
        IF p_extra > p_due THEN
            INSERT INTO alerts (file_id, kind, detail)
            VALUES (p_file_id, 10, 'appointment later than the computed due time');
            PERFORM pg_notify('dh_alerts', p_file_id);
        END IF;
    ELSIF p_kind = 12 THEN
        INSERT INTO files AS f (file_id, status, finished_at) VALUES (p_file_id, 3, p_at)
        ON CONFLICT (file_id) DO UPDATE SET status = 3, finished_at = p_at
        RETURNING f.field_code, f.channel INTO v_field, v_channel;
        INSERT INTO pending_rollup (day, unit_id, field_code, channel, not_counted)
        VALUES (dh_day(p_at), '', coalesce(v_field, ''), coalesce(v_channel, 0), 1);
    ELSIF p_kind = 13 THEN
        UPDATE files SET holder_officer = p_officer, holder_unit = p_unit
        WHERE file_id = p_file_id;
        INSERT INTO holds VALUES (p_file_id, p_at, p_officer, p_unit)
        ON CONFLICT DO NOTHING;
    ELSIF p_kind = 22 THEN
        UPDATE files SET extended_due_at = p_extra WHERE file_id = p_file_id;
    ELSIF p_kind IN (23, 24, 25, 26) THEN
        UPDATE files
        SET status = 2, finished_at = p_at,
            verdict = CASE
                WHEN p_at > coalesce(extended_due_at, due_at) THEN 3
                WHEN dh_day(p_at) < dh_day(coalesce(extended_due_at, due_at)) THEN 1
                ELSE 2 END,
            late_seconds = greatest(0,
                extract(epoch FROM p_at - coalesce(extended_due_at, due_at)))::bigint
        WHERE file_id = p_file_id AND status = 1
        RETURNING verdict, late_seconds, receiving_unit, field_code, channel,
                  coalesce(extended_due_at, due_at)
        INTO v_verdict, v_late, v_unit, v_field, v_channel, v_due;
        IF FOUND THEN
            INSERT INTO pending_rollup (day, unit_id, field_code, channel, early, on_time,
                                        late, late_seconds)
            VALUES (dh_day(p_at), v_unit, v_field, v_channel,
                    (v_verdict = 1)::int, (v_verdict = 2)::int, (v_verdict = 3)::int,
                    CASE WHEN v_verdict = 3 THEN v_late ELSE 0 END);
            IF v_verdict = 3 THEN
                INSERT INTO attribution
                SELECT p_file_id, h.officer_id, h.unit_id, v_late, p_at
                FROM holds h WHERE h.file_id = p_file_id AND h.since <= v_due
                ORDER BY h.since DESC LIMIT 1
                ON CONFLICT (file_id) DO NOTHING;
            END IF;
        END IF;
    END IF;
    RETURN 1;
END
$$;

-- One event in its own transaction (autocommit): ingest, then apply its counters.
CREATE FUNCTION dh_ingest_one(
    p_event_id text, p_file_id text, p_at timestamptz, p_kind smallint,
    p_hash bytea, p_payload bytea,
    p_procedure text, p_field text, p_channel smallint,
    p_unit text, p_officer text, p_due timestamptz, p_extra timestamptz
) RETURNS smallint
LANGUAGE plpgsql AS $$
DECLARE
    v_outcome smallint;
BEGIN
    v_outcome := dh_ingest(p_event_id, p_file_id, p_at, p_kind, p_hash, p_payload,
                           p_procedure, p_field, p_channel, p_unit, p_officer, p_due, p_extra);
    PERFORM dh_flush_rollup();
    RETURN v_outcome;
END
$$;
