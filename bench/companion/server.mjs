// Uppy Companion embedded in an express app, as its README shows, listening on loopback
// only (the standalone `companion` binary binds every interface). bench/run.sh drives its
// S3 endpoint GET /s3/params, which signs an S3 POST policy offline (no call to S3).
// Environment: BENCH_PORT, BENCH_DATADIR, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// BENCH_REGION, BENCH_ENDPOINT_URL, BENCH_BUCKET. Prints "listening on ADDR".
import express from 'express'
import * as companion from '@uppy/companion'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} must be set`)
  return value
}

const port = Number(env('BENCH_PORT'))
const { app: companionApp } = companion.app({
  providerOptions: {},
  s3: {
    key: env('AWS_ACCESS_KEY_ID'),
    secret: env('AWS_SECRET_ACCESS_KEY'),
    bucket: env('BENCH_BUCKET'),
    region: env('BENCH_REGION'),
    endpoint: env('BENCH_ENDPOINT_URL'),
    forcePathStyle: true,
    expires: 900,
  },
  server: { host: `127.0.0.1:${port}`, protocol: 'http' },
  filePath: env('BENCH_DATADIR'),
  secret: 'bench-only-companion-secret',
  uploadUrls: ['^http://127\\.0\\.0\\.1/'],
  corsOrigins: true,
})

const app = express()
app.use(companionApp)
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${server.address().address}:${server.address().port}`)
})
companion.socket(server)
