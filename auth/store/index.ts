/** Auth's data access, one module per table family; the rest of auth imports it from here. */
export * from './db.ts';
export * from './users.ts';
export * from './sessions.ts';
export * from './identities.ts';
export * from './flow-state.ts';
export * from './one-time-tokens.ts';
export * from './mail.ts';
export * from './factors.ts';
export * from './passkeys.ts';
export * from './tenants.ts';
export * from './sso.ts';
