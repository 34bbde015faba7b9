-- Initial Portcullis schema (Postgres). Kept logically identical to
-- migrations/sqlite/20261124000000_initial.sql: every timestamp is unix seconds in a
-- bigint, secrets are stored only as their SHA-256 (bytea), lists and free-form metadata
-- are JSON text, scope sets are their space-separated canonical text. Unique constraints
-- carry the names portcullis_core::store::constraints matches on.

create table user_account (
    user_id uuid not null constraint user_account_pkey primary key,
    username text not null constraint user_account_username_key unique,
    password_hash text not null,
    email text,
    email_verified boolean not null default false,
    name text,
    given_name text,
    family_name text,
    picture text,
    roles text not null default '[]',
    disabled boolean not null default false,
    created_at bigint not null,
    updated_at bigint not null
);

create table client (
    client_id text not null constraint client_pkey primary key,
    secret_hash bytea,
    client_type text not null
        constraint client_client_type_check check (client_type in ('confidential', 'public')),
    auth_method text not null,
    name text not null,
    redirect_uris text not null default '[]',
    post_logout_redirect_uris text not null default '[]',
    grant_types text not null default '[]',
    allowed_scope text not null default '',
    metadata text not null default '{}',
    registration_token_hash bytea,
    created_at bigint not null,
    updated_at bigint not null
);

-- No foreign key to user_account or from anything else: sessions are purged on their own
-- schedule, and grants/codes keep the session id only as a value (the OIDC `sid`).
create table browser_session (
    session_id uuid not null constraint browser_session_pkey primary key,
    secret_hash bytea not null constraint browser_session_secret_hash_key unique,
    user_id uuid not null,
    auth_time bigint not null,
    amr text not null default '[]',
    user_agent text,
    ip text,
    created_at bigint not null,
    last_seen_at bigint not null,
    expires_at bigint not null,
    idle_expires_at bigint not null,
    ended_at bigint
);

create index browser_session_user_id_idx on browser_session (user_id, created_at);

create table consent (
    user_id uuid not null references user_account (user_id) on delete cascade,
    client_id text not null references client (client_id) on delete cascade,
    scope text not null,
    granted_at bigint not null,
    updated_at bigint not null,
    constraint consent_pkey primary key (user_id, client_id)
);

create index consent_client_id_idx on consent (client_id);

create table oauth_grant (
    grant_id uuid not null constraint oauth_grant_pkey primary key,
    user_id uuid not null references user_account (user_id) on delete cascade,
    client_id text not null references client (client_id) on delete cascade,
    scope text not null,
    session_id uuid,
    auth_time bigint not null,
    created_at bigint not null,
    last_used_at bigint not null,
    revoked_at bigint
);

create index oauth_grant_user_id_client_id_idx on oauth_grant (user_id, client_id);
create index oauth_grant_client_id_idx on oauth_grant (client_id);

create table authorization_code (
    code_hash bytea not null constraint authorization_code_pkey primary key,
    grant_id uuid not null references oauth_grant (grant_id) on delete cascade,
    client_id text not null references client (client_id) on delete cascade,
    user_id uuid not null references user_account (user_id) on delete cascade,
    redirect_uri text not null,
    scope text not null,
    nonce text,
    code_challenge text,
    session_id uuid not null,
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null,
    redeemed_at bigint
);

create index authorization_code_grant_id_idx on authorization_code (grant_id);
create index authorization_code_client_id_idx on authorization_code (client_id);
create index authorization_code_user_id_idx on authorization_code (user_id);
create index authorization_code_expires_at_idx on authorization_code (expires_at);

-- parent_hash is a plain value, not a foreign key: a rotated parent may be purged while
-- its successor lives on.
create table refresh_token (
    token_hash bytea not null constraint refresh_token_pkey primary key,
    grant_id uuid not null references oauth_grant (grant_id) on delete cascade,
    client_id text not null references client (client_id) on delete cascade,
    scope text not null,
    parent_hash bytea,
    created_at bigint not null,
    expires_at bigint not null,
    idle_expires_at bigint not null,
    rotated_at bigint,
    revoked_at bigint
);

create index refresh_token_grant_id_idx on refresh_token (grant_id);
create index refresh_token_client_id_idx on refresh_token (client_id);
create index refresh_token_expires_at_idx on refresh_token (expires_at);
create index refresh_token_idle_expires_at_idx on refresh_token (idle_expires_at);

create table signing_key (
    kid text not null constraint signing_key_pkey primary key,
    alg text not null,
    sealed_private_key bytea not null,
    created_at bigint not null,
    activates_at bigint not null,
    retires_at bigint
);

-- One row, ever: whichever replica inserts it first owns the first keyring; every other
-- replica's insert hits keyring_bootstrap_pkey and rolls back its keys.
create table keyring_bootstrap (
    keyring_bootstrap_id integer not null constraint keyring_bootstrap_pkey primary key
        constraint keyring_bootstrap_single_row check (keyring_bootstrap_id = 1),
    created_at bigint not null default (extract(epoch from now())::bigint)
);

create table revoked_token_id (
    jti text not null constraint revoked_token_id_pkey primary key,
    expires_at bigint not null,
    revoked_at bigint not null
);

create index revoked_token_id_expires_at_idx on revoked_token_id (expires_at);

-- audit_event_seq breaks ties between events recorded in the same second, so "newest
-- first" follows insertion order.
create table audit_event (
    audit_event_id uuid not null constraint audit_event_pkey primary key,
    audit_event_seq bigint generated always as identity
        constraint audit_event_seq_key unique,
    occurred_at bigint not null,
    actor text not null,
    action text not null,
    target text,
    ip text,
    detail text not null default '{}'
);

create index audit_event_occurred_at_idx on audit_event (occurred_at, audit_event_seq);
