-- Login throttle counts (portcullis_core::login_throttle), one row per key: an (account,
-- network) pair, an account, or a network. Keys are SHA-256 digests, so no username or
-- address an attacker typed is stored here. account_hash is the account key on account and
-- pair rows (null on network rows), so an operator's unlock forgets an account's counts
-- everywhere; expires_at (the last failure + forget_after) is when a count is forgotten,
-- and what the purge job deletes by.
create table login_throttle (
    throttle_key bytea not null constraint login_throttle_pkey primary key,
    account_hash bytea,
    failures bigint not null,
    last_failure_at bigint not null,
    expires_at bigint not null
);

create index login_throttle_account_hash_idx on login_throttle (account_hash);
create index login_throttle_expires_at_idx on login_throttle (expires_at);
