-- Clients the operator vouches for (`portcullis client create --first-party`, the admin
-- API's `first_party`): only a public client so marked may be given a code from remembered
-- consent (RFC 8252 §8.6). Existing clients are third party until an operator says
-- otherwise.
alter table client add column first_party boolean not null default false;
