# mdm as a container (docs/deployment.md). Node 20, the service compiled at
# build time (bin/build.mjs), run as the unprivileged `node` user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Dependencies only (vitest, playwright and the TimescaleDB PGlite build are for tests).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
# Compile once here: the image's sources never change, so every start finds the build fresh.
RUN node -e "import('./bin/build.mjs').then(async (b) => { if (!(await b.builtEntry('cli-main', { MDM_BUILD_DEBUG: '1' }))) process.exit(1); })" \
 && mkdir -p /data && chown node:node /data
USER node
ENV HOST=0.0.0.0 PORT=8080 MDM_DATA_DIR=/data
EXPOSE 8080 1883
VOLUME ["/data"]
# GET /health answers 200 when the database and every component of this instance are ok.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "--max-semi-space-size=64", "bin/mdm.js", "serve"]
