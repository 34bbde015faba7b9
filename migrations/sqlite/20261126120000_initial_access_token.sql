-- RFC 7591 §3 initial access tokens created with `portcullis registration create-token`.
-- Only the SHA-256 of a token is stored; expires_at is null for a token that never
-- expires. Single-use client assertion ids (RFC 7523 jti) need no table of their own:
-- they are spent into revoked_token_id, which already keeps an id until it expires.
create table initial_access_token (
    token_hash blob not null constraint initial_access_token_pkey primary key,
    description text,
    created_at bigint not null,
    expires_at bigint
);
