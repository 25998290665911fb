# One image for every NextMavens service (nextmavens/stack); docker-compose.yml picks one with
# `node cli/nextmavens.ts serve <gateway|auth|graphql|realtime|storage>` or runs `migrate`.
# Node 24 runs the TypeScript sources directly (type stripping): there is no build step.
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    DATA_DIR=/data
WORKDIR /app

# Dependencies first, so that source edits reuse this layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# DATA_DIR: storage's objects (a volume in compose). Owned by `node` so that a fresh named
# volume mounted here is writable too.
RUN mkdir -p /data && chown node:node /data
USER node

EXPOSE 8000
CMD ["node", "cli/nextmavens.ts", "serve", "gateway"]
