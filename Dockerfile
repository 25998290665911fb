# One image for every NextMavens service (nextmavens/stack); docker-compose.yml picks one with
# `node cli/nextmavens.ts serve <gateway|auth|graphql|realtime|storage>` or runs `migrate`.
# Node 24 runs the TypeScript sources directly (type stripping): there is no build step.
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    DATA_DIR=/data
WORKDIR /app

# PostgreSQL 17's client tools (pg_dump, pg_restore) for backups of compose's db (backup/dump.ts):
# Debian bookworm carries 15, which refuses a 17 server, so they come from PGDG's apt repository,
# set up by Debian's own postgresql-common script. postgresql-common also makes the `postgres` user.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common ca-certificates \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends postgresql-client-17 \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first, so that source edits reuse this layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# DATA_DIR: storage's objects, /backups: the backups (volumes in compose). Owned by `node` so that
# fresh named volumes mounted here are writable too.
RUN mkdir -p /data /backups && chown node:node /data /backups
USER node

EXPOSE 8000
CMD ["node", "cli/nextmavens.ts", "serve", "gateway"]
