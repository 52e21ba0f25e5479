// Stock Uppy 6 uploading through presignd, one scenario per call of window.runScenario.
// tests/it/browser.rs bundles this with esbuild, serves it on its own origin and drives it
// with run.mjs; every check on the stored objects happens in Rust.

import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'

/**
 * The signRequest function an app writes for presignd (the README shows the same): Uppy's
 * request goes to POST /s3/sign verbatim, with the user's token. presignd answers
 * {url, key?, headers?, fields?}; a refusal carries {message} and the problem fields.
 */
export function presigndSignRequest(api, getToken) {
  return async (request) => {
    const response = await fetch(`${api}/s3/sign`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await getToken(request)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(request),
    })
    const body = await response.json().catch(() => ({}))
    if (!response.ok) {
      const error = new Error(
        `presignd refused to sign ${request.method} ${request.key}: ${response.status} ${body.message ?? body.detail ?? response.statusText}`,
      )
      error.status = response.status
      error.code = body.code
      throw error
    }
    return body
  }
}

/**
 * A single upload signed by POST /presign (no /s3 routes needed): a PUT, or with `form` a
 * POST form whose size range presignd takes from the policy.
 */
function presignSignRequest(api, token, sub, form) {
  return async (request) => {
    if (request.method !== 'PUT' || request.uploadId) {
      throw new Error(`POST /presign mode signs single uploads only, not ${request.method}`)
    }
    const key = `${sub}/${request.key}`
    const response = await fetch(`${api}/presign`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        bucket: 'uploads',
        key,
        method: form ? 'POST' : 'PUT',
        content_type: request.contentType,
      }),
    })
    const body = await response.json()
    if (!response.ok) throw new Error(`presign: ${response.status} ${body.detail}`)
    return form ? { url: body.url, fields: body.fields } : { url: body.url, key, headers: body.headers }
  }
}

/** What the scenario's mode puts in AwsS3's options. */
function signing(scenario, signs) {
  const record = (sign) => async (request) => {
    const entry = { request: { ...request } }
    signs.push(entry)
    const started = performance.now()
    try {
      const answer = await sign(request)
      entry.ms = performance.now() - started
      entry.answer = {
        fields: answer.fields != null,
        headers: Object.keys(answer.headers ?? {}),
        key: answer.key ?? null,
      }
      return answer
    } catch (error) {
      entry.error = String(error.message ?? error)
      throw error
    }
  }
  switch (scenario.mode) {
    case 'sign': {
      // The create is signed for `token`, every later request for `laterToken` (when
      // given): another subject on the first one's uploadId.
      const getToken = (request) =>
        request.uploadId && scenario.laterToken ? scenario.laterToken : scenario.token
      return { signRequest: record(presigndSignRequest(scenario.api, getToken)) }
    }
    case 'presign':
      return {
        signRequest: record(
          presignSignRequest(scenario.api, scenario.token, scenario.sub, scenario.form),
        ),
      }
    case 'bare':
      // The baseline: Uppy's own SigV4 presigner with the store's keys, in the page.
      return {
        s3Endpoint: `${scenario.s3}/uploads`,
        region: 'us-east-1',
        getCredentials: async () => ({
          credentials: {
            accessKeyId: scenario.accessKey,
            secretAccessKey: scenario.secretKey,
            sessionToken: '',
          },
          region: 'us-east-1',
        }),
      }
    case 'fields':
      // A POST form the test signed itself: the store's form parser on browser bodies.
      return {
        signRequest: record(async () => ({ url: scenario.url, fields: scenario.fields })),
      }
    case 'companion':
      // 6.x companion mode sends no headers and no cross-origin cookies: the token rides
      // in the auth cookie on this origin, which forwards /s3/* to presignd.
      // Without a token: no cookie at all (this browser's earlier scenarios set one).
      document.cookie = scenario.token
        ? `${scenario.cookie}=${scenario.token}; path=/; SameSite=Strict`
        : `${scenario.cookie}=; path=/; max-age=0`
      return { companionEndpoint: window.location.origin }
    default:
      throw new Error(`unknown mode ${scenario.mode}`)
  }
}

/** One upload of the picked file, as `scenario` says. */
async function uploadOnce(scenario, run) {
  const signs = []
  const parts = []
  const file = document.getElementById('file').files[0]
  if (!file) throw new Error('no file picked')
  const uppy = new Uppy({ id: `${scenario.name}-${run}`, autoProceed: false })
  uppy.use(AwsS3, {
    ...signing(scenario, signs),
    shouldUseMultipart: scenario.multipart ?? ((f) => f.size > 100 * 1024 * 1024),
    generateObjectKey: (f) => `${scenario.prefix ?? ''}${f.name}`,
  })
  uppy.on('s3-multipart:part-uploaded', (_file, part) => parts.push(part.PartNumber))
  let error = null
  uppy.on('upload-error', (_file, err) => {
    error = String(err?.message ?? err)
  })
  uppy.addFile({ name: file.name, type: file.type || 'application/octet-stream', data: file })
  const started = performance.now()
  const result = await uppy.upload()
  const ms = performance.now() - started
  const success = result?.successful?.[0]
  uppy.destroy()
  return {
    ok: success != null,
    ms,
    key: success?.response?.body?.key ?? null,
    location: success?.uploadURL ?? null,
    error: error ?? result?.failed?.[0]?.error ?? null,
    parts,
    signs,
  }
}

/**
 * `scenario.repeat` uploads (default 1): the last one's result, every error seen, and each
 * upload's time in milliseconds.
 */
window.runScenario = async (scenario) => {
  const errors = []
  const times = []
  let result
  for (let run = 0; run < (scenario.repeat ?? 1); run++) {
    result = await uploadOnce(scenario, run)
    times.push(result.ms)
    if (!result.ok) errors.push(result.error)
  }
  return { ...result, errors, times }
}

window.pageReady = true
