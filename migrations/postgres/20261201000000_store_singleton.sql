-- Named one-row markers that store transactions lock or write (kept identical on both
-- backends):
--   admin_bootstrap  `portcullis admin bootstrap` updates it first, so concurrent
--                    bootstraps queue on its row lock and the second one sees the first
--                    one's administrator instead of creating another;
--   readiness_probe  /readyz writes it, so a database that still answers reads but can no
--                    longer write (a full disk, a read-only failover) is reported not ready.
create table store_singleton (
    store_singleton_id text not null constraint store_singleton_pkey primary key,
    touched bigint not null default 0
);

insert into store_singleton (store_singleton_id) values ('admin_bootstrap'), ('readiness_probe');
