# One image for every NextMavens service; compose picks the service with
# `node cli/nextmavens.ts serve <gateway|rest|auth|graphql|realtime|storage>` or `migrate`.
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY config ./config
COPY db ./db
COPY sql ./sql
COPY gateway ./gateway
COPY services ./services
COPY rest ./rest
COPY auth ./auth
COPY graphql ./graphql
COPY realtime ./realtime
COPY storage ./storage
COPY cli ./cli

USER node
EXPOSE 8000
CMD ["node", "cli/nextmavens.ts", "serve", "gateway"]
