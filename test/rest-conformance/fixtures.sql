-- Fixtures of the REST conformance suite (test/rest-conformance): the part of PostgREST v13's own
-- test fixtures (test/spec/fixtures/{schema,data,privileges}.sql, restated in
-- shared/reference/postgrest.md §9.0) that the ported cases use, adapted to this stack:
--
--   * objects live in schema `test` (plus `private` for what must stay unexposed, and `v1`/`v2`
--     for the multi-schema cases); expose them with REST_SCHEMAS=test,v1,v2 (ours) or
--     PGRST_DB_SCHEMAS=test,v1,v2 (a real PostgREST);
--   * the API roles are Supabase's: `anon` plays postgrest_test_anonymous, `authenticated` plays
--     postgrest_test_author (our gateway only admits anon/authenticated/service_role tokens), and
--     `service_role` gets what anon gets;
--   * the data is (re)loaded by `conformance.reset()`, which the suite calls before a case that
--     follows a mutating one (the official suite instead rolls every request back).
--
-- Left out on purpose (features this stack does not offer, or that need another server config):
-- the db-pre-request `switch_role` and the `postgrest_test_*` roles, db-tx-end=rollback-allow-override,
-- aggregates, plan/custom media types and their domains, PostGIS/geojson, app.settings, the
-- `SPECIAL "@/\#~_-"` schema, data-representation domains (datarep_todos uses plain types here),
-- db-max-rows / no-anon / no-secret server variants.
--
-- Idempotent: every schema it owns is dropped and recreated, roles are created only when missing.
set client_min_messages = warning;

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then create role authenticated nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'service_role') then create role service_role nologin noinherit bypassrls; end if;
  -- The login role of the REST server must be able to SET ROLE to the API roles.
  if exists (select from pg_roles where rolname = 'authenticator') then
    execute 'grant anon, authenticated, service_role to authenticator';
  end if;
end
$$;

drop schema if exists test, private, v1, v2, conformance cascade;
create schema test;
create schema private;
create schema v1;
create schema v2;
create schema conformance;

set search_path = test, public;

-- ------------------------------------------------------------------------------------- types

create type test.enum_menagerie_type as enum ('foo', 'bar');
create type test.point_2d as (x integer, y integer);

-- ------------------------------------------------------------------------------------ tables

create table test.items (id bigserial primary key);
create table test.items2 (id bigserial primary key);
create table test.items3 (id bigserial primary key);

-- Computed column (§1.4): /items?select=id,always_true
create function test.always_true(test.items) returns boolean language sql immutable as $$ select true $$;

create table test.simple_pk (k varchar not null primary key, extra varchar not null);
create table test.no_pk (a varchar, b varchar);
create table test.only_pk (id integer primary key);
create table test.nullable_integer (a integer);
create table test.chores (id int primary key, name text, done bool);

create table test.complex_items (
  id bigint primary key,
  name text,
  settings json,
  arr_data integer[],
  "field-with_sep" integer default 1 not null
);

create table test.clients (id integer primary key, name text not null);
create table test.projects (id integer primary key, name text not null, client_id integer references test.clients (id));
alter table test.projects rename constraint projects_client_id_fkey to client;
create table test.users (id integer primary key, name text not null);
create table test.tasks (id integer primary key, name text not null, project_id integer references test.projects (id));
alter table test.tasks rename constraint tasks_project_id_fkey to project;
create table test.users_tasks (
  user_id integer not null references test.users (id),
  task_id integer not null references test.tasks (id),
  primary key (task_id, user_id)
);

create table test.entities (id integer primary key, name text, arr integer[], text_search_vector tsvector);
create table test.child_entities (id integer primary key, name text, parent_id integer references test.entities (id));
create table test.grandchild_entities (
  id integer primary key,
  name text,
  parent_id integer references test.child_entities (id),
  or_starting_col text,
  and_starting_col text,
  jsonb_col jsonb
);

create table test.ranges (id integer primary key, range numrange);
create table test.json_table (data json);
create table test.json_arr (id integer primary key, data json);
create table test.w_or_wo_comma_names (name text);

create table test.tiobe_pls (name text primary key, rank smallint);
create table test.single_unique (unique_key integer unique not null, value text);
create table test.compound_unique (key1 integer not null, key2 integer not null, value text, unique (key1, key2));
create table test.employees (
  first_name text, last_name text, salary money, company text, occupation text,
  primary key (first_name, last_name)
);

create table test.addresses (id int not null unique, address text not null);

create table test.menagerie (
  "integer" integer not null primary key,
  double double precision not null,
  "varchar" character varying not null,
  "boolean" boolean not null,
  date date not null,
  money money not null,
  enum test.enum_menagerie_type not null
);

create table test.auto_incrementing_pk (
  id serial primary key,
  nullable_string character varying,
  non_nullable_string character varying not null,
  inserted_at timestamp with time zone default now()
);

create table test.compound_pk (primary key (k1, k2), k1 integer not null, k2 text not null, extra integer);
create view test.compound_pk_view as select * from test.compound_pk;

-- articles: an auto-updatable view over a private table whose trigger stamps the owner.
create function private.update_owner() returns trigger language plpgsql as $$
begin
  new.owner = current_user;
  return new;
end
$$;
create table private.articles (id integer primary key, body text, owner name not null);
create trigger articles_owner_track before insert or update on private.articles
  for each row execute procedure private.update_owner();
create view test.articles as select articles.id, articles.body, articles.owner from private.articles;

create table private.article_stars (
  article_id integer not null references private.articles (id),
  user_id integer not null references test.users (id),
  created_at timestamp without time zone default now() not null,
  primary key (article_id, user_id)
);
create view test.limited_article_stars as select article_id, user_id, created_at from private.article_stars;

-- authors_only: only the "author" role (here: authenticated) may use it; a trigger takes the owner
-- from the JWT's `id` claim.
create function private.set_authors_only_owner() returns trigger language plpgsql as $$
begin
  new.owner = current_setting('request.jwt.claims')::json->>'id';
  return new;
end
$$;
create table test.authors_only (owner character varying not null, secret character varying not null primary key);
create trigger secrets_owner_track before insert or update on test.authors_only
  for each row execute procedure private.set_authors_only_owner();

create table test.private_table ();
create table test.insertonly (v text not null);
create table test.app_users (id integer primary key, email text unique not null, password text not null);

create table test.web_content (id integer primary key, name text, p_web_id integer references test.web_content (id));

create table test.students (id int, code text, name text, primary key (id, code));
create table test.students_info (
  id int, code text, address text,
  primary key (id, code),
  foreign key (code, id) references test.students (code, id) on delete cascade
);
create table test.country (id int primary key, name text);
create table test.capital (id int primary key, name text, country_id int unique references test.country (id));

create table test."Server Today" ("cHostname" text, "Just A Server Model" text);
create table test."Escap3e;" ("so6meIdColumn" integer primary key);
create table test."ghostBusters" ("escapeId" integer not null references test."Escap3e;" ("so6meIdColumn"));

-- Circular reference: agents <-> departments (ambiguous embed, PGRST201).
create table test.agents (id int primary key, name text, department_id int);
create table test.departments (id int primary key, name text, head_id int references test.agents (id));
alter table test.agents add constraint agents_department_id_fkey foreign key (department_id) references test.departments (id);

-- Partitioned tables: partitions are not embeddable (PGRST200 with a hint).
create table test.car_brands (name varchar(64) primary key);
create table test.car_models (name varchar(64) not null, year int not null) partition by list (year);
create table test.car_models_2021 partition of test.car_models for values in (2021);
create table test.car_models_default partition of test.car_models for values in (1981, 1997, 2001, 2013);
alter table test.car_models add primary key (name, year);
alter table test.car_models add column car_brand_name varchar(64) references test.car_brands (name);
create table test.car_model_sales (
  date varchar(64) not null,
  quantity int not null,
  car_model_name varchar(64),
  car_model_year int,
  primary key (date, car_model_name, car_model_year),
  foreign key (car_model_name, car_model_year) references test.car_models (name, year)
) partition by range (date);
create table test.car_model_sales_202101 partition of test.car_model_sales for values from ('2021-01-01') to ('2021-01-31');
create table test.car_model_sales_default partition of test.car_model_sales default;

create table test.factories (id int primary key, name text);
create table test.process_categories (id int primary key, name text);
create table test.processes (
  id int primary key, name text,
  factory_id int references test.factories (id),
  category_id int references test.process_categories (id)
);

-- stuff: an INSTEAD OF trigger overrides the Location header through response.headers.
create table private.stuff (id integer primary key, name text);
create view test.stuff as select * from private.stuff;
create function private.location_for_stuff() returns trigger language plpgsql security definer as $$
begin
  insert into private.stuff values (new.id, new.name);
  if new.id is not null then
    perform set_config('response.headers', format('[{"Location": "/%s?id=eq.%s&overriden=true"}]', tg_table_name, new.id), true);
  end if;
  return new;
end
$$;
create trigger location_for_stuff instead of insert on test.stuff for each row execute procedure private.location_for_stuff();

-- datarep_todos with plain types (the official fixture uses data-representation domains).
create table test.datarep_todos (id bigint primary key, name text, label_color int default 0, due_at date default '2018-01-01');

create table test.managers (id integer primary key, name text);
create table test.organizations (
  id integer primary key,
  name text,
  referee integer references test.organizations (id),
  auditor integer references test.organizations (id),
  manager_id integer references test.managers (id)
);
alter table test.organizations rename constraint organizations_manager_id_fkey to manager;

create view test.bad_subquery as select * from test.projects where id = (select id from test.projects);
create view test.infinite_recursion as select * from test.projects;
create or replace view test.infinite_recursion as select * from test.infinite_recursion;

create table test.deferrable_unique_constraint (col int unique deferrable initially immediate);

-- Multiple schemas (v1, v2) with same-named tables.
create table v1.parents (id int primary key, name text);
create table v1.children (id int primary key, name text, parent_id int, constraint parent foreign key (parent_id) references v1.parents (id));
create table v2.parents (id int primary key, name text);
create table v2.children (id int primary key, name text, parent_id int, constraint parent foreign key (parent_id) references v2.parents (id));
create table v2.another_table (id int primary key, another_value text);

-- --------------------------------------------------------------------------------- functions

create function test.getitemrange(min bigint, max bigint) returns setof test.items language sql stable as $$
  select * from test.items where id > $1 and id <= $2;
$$;
create function test.getproject(id int) returns setof test.projects language sql as $$
  select * from test.projects where id = $1;
$$;
create function test.get_projects_below(id int) returns setof test.projects language sql as $$
  select * from test.projects where id < $1;
$$;
create function test.getallprojects() returns setof test.projects language sql as $$
  select * from test.projects;
$$ rows 2019;
create function test.setprojects(id_l int, id_h int, name text) returns setof test.projects language sql as $$
  update test.projects set name = $3 where id >= $1 and id <= $2 returning *;
$$;
create function test.sayhello(name text) returns text language sql immutable as $$ select 'Hello, ' || $1 $$;
create function test.add_them(a integer, b integer) returns integer language sql as $$ select a + b $$;
create function test.ret_void() returns void language sql as '';
create function test.ret_null() returns int language sql as $$ select null::int $$;
create function test.ret_setof_integers() returns setof integer language sql as $$ values (1), (2), (3) $$;
create function test.ret_point_2d() returns test.point_2d language sql as $$ select row(10, 5)::test.point_2d $$;
create function test.single_article(id integer) returns test.articles language sql as $$
  select a.* from test.articles a where a.id = $1;
$$;
create sequence test.callcounter_count start 1;
create function test.callcounter() returns bigint language sql as $$ select nextval('test.callcounter_count') $$;
create function test.noparamsproc() returns text language sql immutable as $$
  select a from (values ('Return value of no parameters procedure.')) s(a);
$$;
create function test.variadic_param(variadic v text[] default '{}') returns text[] language sql immutable as $$ select v $$;
create function test.get_guc_value(name text) returns text language sql as $$
  select nullif(current_setting(name), '')::text;
$$;
create function test.get_guc_value(prefix text, name text) returns text language sql as $$
  select nullif(current_setting(prefix)::json->>name, '')::text;
$$;
create function test.unnamed_json_param(json) returns json language sql as $$ select $1 $$;
create function test.problem() returns void language plpgsql as $$
begin
  raise 'bad thing';
end
$$;
create function test.raise_pt402() returns void language plpgsql as $$
begin
  raise sqlstate 'PT402' using message = 'Payment Required', detail = 'Quota exceeded', hint = 'Upgrade your plan';
end
$$;
create function test.raise_bad_pt() returns void language plpgsql as $$
begin
  raise sqlstate 'PT40A' using message = 'Wrong';
end
$$;
create function test.raise_sqlstate_test1() returns void language plpgsql as $$
begin
  raise sqlstate 'PGRST' using
    message = '{"code":"123","message":"ABC","details":"DEF","hint":"XYZ"}',
    detail = '{"status":332,"status_text":"My Custom Status","headers":{"X-Header":"str"}}';
end
$$;
create function test.send_body_status_403() returns json language plpgsql as $$
begin
  perform set_config('response.status', '403', true);
  return json_build_object('message', 'invalid user or password');
end
$$;
create function test.get_projects_and_guc_headers() returns setof test.projects language sql as $$
  set local "response.headers" = '[{"X-Test": "key1=val1; someValue; key2=val2"}, {"X-Test-2": "key1=val1"}]';
  select * from test.projects;
$$;
create function test.set_cookie_twice() returns void language sql as $$
  set local "response.headers" = '[{"Set-Cookie": "sessionid=38afes7a8; HttpOnly; Path=/"}, {"Set-Cookie": "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly"}]';
$$;
create function test.privileged_hello(name text) returns text language sql as $$ select 'Privileged hello to ' || $1 $$;
create function test.get_current_user() returns text language sql stable as $$ select current_user::text $$;
create function test.overloaded_same_args(arg integer) returns json language sql as $$
  select json_build_object('type', pg_typeof(arg), 'value', arg);
$$;
create function test.overloaded_same_args(arg xml) returns json language sql as $$
  select json_build_object('type', pg_typeof(arg), 'value', arg);
$$;
create function test.overloaded_same_args(arg text, num integer default 0) returns json language sql as $$
  select json_build_object('type', pg_typeof(arg), 'value', arg);
$$;
create function test.delete_items_returns_void() returns void language sql as $$ delete from test.items $$;
create function test.reveal_big_jwt() returns table (iss text, sub text, exp bigint, nbf bigint, iat bigint, jti text, "http://postgrest.com/foo" boolean)
language sql security definer stable as $$
  select current_setting('request.jwt.claims')::json->>'iss',
         current_setting('request.jwt.claims')::json->>'sub',
         (current_setting('request.jwt.claims')::json->>'exp')::bigint,
         (current_setting('request.jwt.claims')::json->>'nbf')::bigint,
         (current_setting('request.jwt.claims')::json->>'iat')::bigint,
         current_setting('request.jwt.claims')::json->>'jti',
         (current_setting('request.jwt.claims')::json->>'http://postgrest.com/foo')::boolean;
$$;
create function test.raise_constraint(deferred bool default false) returns void language plpgsql as $$
begin
  if deferred then
    set constraints all deferred;
  end if;
  insert into test.deferrable_unique_constraint values (1), (1);
end
$$;

-- -------------------------------------------------------------------------------- privileges

grant usage on schema test, v1, v2 to anon, authenticated, service_role;
grant all on all tables in schema test, v1, v2 to anon, authenticated, service_role;
grant usage on all sequences in schema test to anon, authenticated, service_role;

revoke all on table test.private_table from anon, authenticated, service_role;
revoke all on table test.app_users, test.authors_only, test.insertonly, test.limited_article_stars from anon;
grant insert on table test.insertonly to anon;
grant select (article_id, user_id), insert (article_id, user_id), update (article_id, user_id) on table test.limited_article_stars to anon;
grant select (id, email), insert, update, delete on table test.app_users to anon;

revoke execute on function test.privileged_hello(text) from public;
grant execute on function test.privileged_hello(text) to authenticated;

-- ---------------------------------------------------------------------------------------- data

-- Reloads every row and sequence (no DDL, so no schema-cache reload is triggered).
create function conformance.reset() returns void language plpgsql as $$
begin
  truncate test.items, test.items2, test.items3, test.simple_pk, test.no_pk, test.only_pk, test.nullable_integer,
    test.chores, test.complex_items, test.clients, test.projects, test.users, test.tasks, test.users_tasks,
    test.entities, test.child_entities, test.grandchild_entities, test.ranges, test.json_table, test.json_arr,
    test.w_or_wo_comma_names, test.tiobe_pls, test.single_unique, test.compound_unique, test.employees,
    test.addresses, test.menagerie, test.auto_incrementing_pk, test.compound_pk, private.articles,
    private.article_stars, test.authors_only, test.insertonly, test.app_users, test.web_content, test.students,
    test.students_info, test.country, test.capital, test."Server Today", test."Escap3e;", test."ghostBusters",
    test.agents, test.departments, test.car_brands, test.car_models, test.car_model_sales, test.factories,
    test.process_categories, test.processes, private.stuff, test.datarep_todos, test.managers, test.organizations,
    test.deferrable_unique_constraint, v1.parents, v1.children, v2.parents, v2.children, v2.another_table
    restart identity cascade;

  insert into test.items select generate_series(1, 15);
  perform setval('test.items_id_seq', 15, true);
  insert into test.items2 select generate_series(1, 15);
  perform setval('test.items2_id_seq', 20, false);
  perform setval('test.items3_id_seq', 20, false);
  perform setval('test.callcounter_count', 1, false);
  perform setval('test.auto_incrementing_pk_id_seq', 1, true);

  insert into test.simple_pk values ('xyyx', 'u'), ('xYYx', 'v');
  insert into test.no_pk values (null, null), ('1', '0'), ('2', '0');
  insert into test.only_pk values (1), (2);
  insert into test.nullable_integer values (null);
  insert into test.chores values (1, 'take out the garbage', true), (2, 'do the laundry', false), (3, 'wash the dishes', null);
  insert into test.complex_items values
    (1, 'One', '{"foo":{"int":1,"bar":"baz"}}', '{1}', default),
    (2, 'Two', '{"foo":{"int":1,"bar":"baz"}}', '{1,2}', default),
    (3, 'Three', '{"foo":{"int":1,"bar":"baz"}}', '{1,2,3}', 3);

  insert into test.clients values (1, 'Microsoft'), (2, 'Apple');
  insert into test.projects values (1, 'Windows 7', 1), (2, 'Windows 10', 1), (3, 'IOS', 2), (4, 'OSX', 2), (5, 'Orphan', null);
  insert into test.users values (1, 'Angela Martin'), (2, 'Michael Scott'), (3, 'Dwight Schrute');
  insert into test.tasks values
    (1, 'Design w7', 1), (2, 'Code w7', 1), (3, 'Design w10', 2), (4, 'Code w10', 2),
    (5, 'Design IOS', 3), (6, 'Code IOS', 3), (7, 'Design OSX', 4), (8, 'Code OSX', 4);
  insert into test.users_tasks values (1, 1), (1, 2), (1, 3), (1, 4), (2, 5), (2, 6), (2, 7), (3, 1), (3, 5);

  insert into test.entities values
    (1, 'entity 1', '{1}', '''bar'':2 ''foo'':1'), (2, 'entity 2', '{1,2}', '''baz'':1 ''qux'':2'),
    (3, 'entity 3', '{1,2,3}', null), (4, null, null, null);
  insert into test.child_entities values
    (1, 'child entity 1', 1), (2, 'child entity 2', 1), (3, 'child entity 3', 2),
    (4, 'child entity 4', 1), (5, 'child entity 5', 1), (6, 'child entity 6', 2);
  insert into test.grandchild_entities values
    (1, 'grandchild entity 1', 1, null, null, null), (2, 'grandchild entity 2', 1, null, null, null),
    (3, 'grandchild entity 3', 2, null, null, null), (4, '(grandchild,entity,4)', 2, null, null, '{"a": {"b":"foo"}}'),
    (5, '(grandchild,entity,5)', 2, null, null, '{"b":"bar"}');
  insert into test.ranges values (1, '[1,3]'), (2, '[3,6]'), (3, '[6,9]'), (4, '[9,12]'), (5, null);
  insert into test.json_table values ('{"foo":{"bar":"baz"},"id":1}'), ('{"id":3}'), ('{"id":0}');
  insert into test.json_arr values
    (1, '[1, 2, 3]'), (2, '[4, 5, 6]'), (3, '[[9, 8, 7], [11, 12, 13]]'), (4, '[[[5, 6], 7, 8]]'),
    (5, '[{"a": "A"}, {"b": "B"}]'), (6, '[{"a": [1,2,3]}, {"b": [4,5]}]'), (7, '{"c": [1,2,3], "d": [4,5]}'),
    (8, '{"c": [{"d": [4,5,6,7,8]}]}'), (9, '[{"0xy1": [1,{"23-xy-45": [2, {"xy-6": [3]}]}]}]'),
    (10, '{"!@#$%^&*_a": [{"!@#$%^&*_b": 1}, {"!@#$%^&*_c": [2]}], "!@#$%^&*_d": {"!@#$%^&*_e": 3}}');
  insert into test.w_or_wo_comma_names values
    ('Hebdon, John'), ('Williams, Mary'), ('Smith, Joseph'), ('David White'), ('Larry Thompson'),
    ('Double O Seven(007)'), ('"'), ('Double"Quote"McGraw"'), ('\'), ('/\Slash/\Beast/\');

  insert into test.tiobe_pls values ('Java', 1), ('C', 2), ('Python', 4);
  insert into test.single_unique (unique_key, value) values (1, 'A');
  insert into test.compound_unique (key1, key2, value) values (1, 1, 'A');
  insert into test.employees values
    ('Frances M.', 'Roe', '24000', 'One-Up Realty', 'Author'),
    ('Daniel B.', 'Lyon', '36000', 'Dubrow''s Cafeteria', 'Packer'),
    ('Edwin S.', 'Smith', '48000', 'Pro Garden Management', 'Marine biologist');
  insert into test.addresses values (1, 'address 1'), (2, 'address 2'), (3, 'address 3'), (4, 'address 4');

  -- Keep the fixture owner: the owner-stamping trigger must not fire while loading.
  perform set_config('session_replication_role', 'replica', true);
  insert into private.articles values
    (1, 'No… It''s a thing; it''s like a plan, but with more greatness.', 'diogo'),
    (2, 'Stop talking, brain thinking. Hush.', 'diogo'),
    (3, 'It''s a fez. I wear a fez now. Fezes are cool.', 'diogo');
  perform set_config('session_replication_role', 'origin', true);
  insert into private.article_stars values
    (1, 1, '2015-12-08 04:22:57.472738'), (1, 2, '2015-12-08 04:22:57.472738'), (2, 3, '2015-12-08 04:22:57.472738'),
    (3, 2, '2015-12-08 04:22:57.472738'), (1, 3, '2015-12-08 04:22:57.472738');

  insert into test.app_users (id, email, password) values (1, 'test@123.com', 'pass'), (2, 'abc@123.com', 'pass'), (3, 'def@123.com', 'pass');
  insert into test.web_content values (5, 'wat', null), (0, 'tardis', 5), (1, 'fezz', 0), (2, 'foo', 0), (3, 'bar', 0), (4, 'wut', 1);
  insert into test.students (id, code, name) values (1, '0001', 'John Doe'), (2, '0002', 'Jane Doe');
  insert into test.students_info (id, code, address) values (1, '0001', 'Street 1'), (2, '0002', 'Street 2');
  insert into test.country (id, name) values (1, 'Afghanistan'), (2, 'Algeria');
  insert into test.capital (id, name, country_id) values (1, 'Kabul', 1), (2, 'Algiers', 2);
  insert into test."Server Today" values
    ('argnim1', ' IBM,9113-550 (P5-550)'), ('argnim2', ' IBM,9113-550 (P5-550)'), ('daaa2nim71', ' IBM,9131-52A (P5-52A)'),
    ('daah3nim71', ' IBM,8406-71Y (P7-PS701)'), ('hbnim1', ' IBM,9133-55A (P5-55A)');
  insert into test."Escap3e;" values (1), (2), (3), (4), (5);
  insert into test."ghostBusters" values (1), (3), (5);

  insert into test.agents (id, name) values (1, 'agent 1'), (2, 'agent 2'), (3, 'agent 3'), (4, 'agent 4');
  insert into test.departments (id, name, head_id) values (1, 'dep 1', 1), (2, 'dep 3', 3);
  update test.agents set department_id = 1 where id in (1, 2);
  update test.agents set department_id = 2 where id in (3, 4);

  insert into test.car_brands (name) values ('DMC'), ('Ferrari'), ('Lamborghini');
  insert into test.car_models (name, year, car_brand_name) values
    ('DeLorean', 1981, 'DMC'), ('F310-B', 1997, 'Ferrari'), ('Veneno', 2013, 'Lamborghini'), ('Murcielago', 2001, 'Lamborghini');
  insert into test.car_model_sales (date, quantity, car_model_name, car_model_year) values
    ('2021-01-14', 7, 'DeLorean', 1981), ('2021-01-15', 9, 'DeLorean', 1981),
    ('2021-02-11', 1, 'Murcielago', 2001), ('2021-02-12', 3, 'Murcielago', 2001);

  insert into test.factories values (1, 'Factory A'), (2, 'Factory B'), (3, 'Factory C'), (4, 'Factory D');
  insert into test.process_categories values (1, 'Batch'), (2, 'Mass');
  insert into test.processes values
    (1, 'Process A1', 1, 1), (2, 'Process A2', 1, 2), (3, 'Process B1', 2, 1), (4, 'Process B2', 2, 1),
    (5, 'Process C1', 3, 2), (6, 'Process C2', 3, 2), (7, 'Process XX', 3, 2), (8, 'Process YY', 3, 2);

  insert into private.stuff (id, name) values (1, 'stuff 1');
  insert into test.datarep_todos values (1, 'Report', 0, '2018-01-02'), (2, 'Essay', 256, '2018-01-03'), (3, 'Algebra', 123456, '2018-01-01'), (4, 'Opus Magnum', null, null);

  insert into test.managers values
    (1, 'Referee Manager'), (2, 'Auditor Manager'), (3, 'Acme Manager'), (4, 'Umbrella Manager'), (5, 'Cyberdyne Manager'), (6, 'Oscorp Manager');
  insert into test.organizations values
    (1, 'Referee Org', null, null, 1), (2, 'Auditor Org', null, null, 2), (3, 'Acme', 1, 2, 3),
    (4, 'Umbrella', 1, 2, 4), (5, 'Cyberdyne', 3, 4, 5), (6, 'Oscorp', 3, 4, 6);

  insert into v1.parents values (1, 'parent v1-1'), (2, 'parent v1-2');
  insert into v1.children values (1, 'child v1-1', 1), (2, 'child v1-2', 2);
  insert into v2.parents values (3, 'parent v2-3'), (4, 'parent v2-4');
  insert into v2.children values (1, 'child v2-3', 3);
  insert into v2.another_table values (5, 'value 5'), (6, 'value 6');
end
$$;

select conformance.reset();

-- A real PostgREST reloads its schema cache on this notification.
notify pgrst, 'reload schema';
