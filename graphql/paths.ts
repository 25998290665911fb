/** Where Grafserv serves GraphQL (and Ruru on GET), and Supabase's path, which is rewritten to it. */
export const GRAPHQL_PATH = '/graphql';
export const V1_PATH = '/graphql/v1';
