// presignd ops console. Plain DOM, no framework, nothing from the internet (the CSP
// allows only this origin). Every value from the API is set as text, never as HTML:
// audit rows hold what callers sent (keys, user agents), and a page that rendered them
// as markup would run an attacker's script for every ops person who looks.

const TOKEN_KEY = 'presignd.console.token'
const ACTIONS = [
  's3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts',
  'presign:QueryAudit', 'presign:CreateLink', 'presign:ListLinks', 'presign:RevokeLink',
  'presign:ListUploads', 'presign:SimulatePolicy',
]
const $ = (selector, root = document) => root.querySelector(selector)

/** An element with attributes and children (strings become text nodes). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value)
    else if (name === 'class') element.className = value
    else element.setAttribute(name, value === true ? '' : value)
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue
    element.append(child instanceof Node ? child : String(child))
  }
  return element
}

/** A time in the viewer's zone, with UTC on hover. */
function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—')
  const date = new Date(iso)
  return h('time', { datetime: iso, title: `${date.toISOString()} (UTC)` }, date.toLocaleString())
}

const badge = (text) => h('span', { class: `badge ${text}` }, text)

// ---------------------------------------------------------------- API

class Problem extends Error {
  constructor(status, body) {
    super(body?.detail ?? `HTTP ${status}`)
    this.status = status
    this.body = body
  }

  /** What to tell the person: a 403 says which permission is missing. */
  explain() {
    const detail = this.body?.detail ?? this.message
    switch (this.status) {
      case 401: return `Your token was refused (${detail}). Sign in again.`
      case 403: return `Permission missing: ${detail}. Ask for this action in the policy.`
      case 429: return `Rate limited: ${detail}`
      case 503: return `presignd cannot reach its audit store right now: ${detail}`
      default: return `${this.body?.title ?? 'Error'} (${this.status}): ${detail}`
    }
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (error) {
    throw new Problem(0, { title: 'Network error', detail: `presignd did not answer (${error.message})` })
  }
  const text = await response.text()
  let parsed = null
  try { parsed = text ? JSON.parse(text) : null } catch { parsed = { detail: text } }
  if (!response.ok) {
    const problem = new Problem(response.status, parsed)
    if (response.status === 401) signOut(problem.explain())
    throw problem
  }
  return parsed
}

function query(params) {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, value)
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

/** Form fields as an object, empty ones left out; datetime-local fields as RFC 3339. */
function fields(form) {
  const values = {}
  for (const element of form.elements) {
    if (!element.name || element.value === '') continue
    values[element.name] = element.type === 'datetime-local'
      ? new Date(element.value).toISOString()
      : element.value.trim()
  }
  return values
}

function status(id, text, kind) {
  const box = document.getElementById(id)
  box.replaceChildren()
  box.className = kind === 'error' ? 'status error' : 'status'
  if (text) box.append(text)
}

async function guarded(statusId, work) {
  status(statusId, 'Loading…')
  try {
    await work()
  } catch (error) {
    status(statusId, error instanceof Problem ? error.explain() : String(error), 'error')
  }
}

// ---------------------------------------------------------------- sign-in and views

function claimsOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    return JSON.parse(atob(payload))
  } catch {
    return null
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY)
  $('#app').hidden = true
  $('#sign-out').hidden = true
  $('#who').textContent = ''
  $('#sign-in').hidden = false
  const error = $('#sign-in-error')
  error.hidden = !message
  error.textContent = message ?? ''
  $('#token').focus()
}

function signedIn() {
  const claims = claimsOf(sessionStorage.getItem(TOKEN_KEY))
  $('#who').textContent = claims ? `signed in as ${claims.sub} (${claims.iss})` : 'signed in'
  $('#sign-in').hidden = true
  $('#app').hidden = false
  $('#sign-out').hidden = false
  route()
}

const VIEWS = ['audit', 'leak', 'activity', 'links', 'uploads', 'simulate']

function show(view, focusTab = false) {
  for (const name of VIEWS) {
    const tab = document.getElementById(`tab-${name}`)
    const selected = name === view
    tab.setAttribute('aria-selected', String(selected))
    tab.tabIndex = selected ? 0 : -1
    document.getElementById(`view-${name}`).hidden = !selected
    if (selected && focusTab) tab.focus()
  }
  const first = { activity: () => loadActivity(), links: () => loadLinks(), uploads: () => loadUploads() }
  if (!shown.has(view) && first[view]) first[view]()
  shown.add(view)
}
const shown = new Set()

/** `#audit`, `#leak`, …, and `#audit/<id>` for one row's details. */
function route() {
  const [view, id] = location.hash.slice(1).split('/')
  show(VIEWS.includes(view) ? view : 'audit')
  if (view === 'audit' && id) showRowById(id)
}

// Arrow keys move between tabs, as the ARIA tabs pattern expects.
function tabKeys(event) {
  const index = VIEWS.indexOf(event.target.dataset.view)
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: VIEWS.length - 1 - index }
  if (index < 0 || !(event.key in moves)) return
  event.preventDefault()
  const next = VIEWS[(index + moves[event.key] + VIEWS.length) % VIEWS.length]
  location.hash = next
  show(next, true)
}

// ---------------------------------------------------------------- audit search

const audit = { filters: null, cursor: null, rows: [] }
const AUDIT_COLUMNS = [
  'id', 'time', 'outcome', 'reason', 'issuer', 'subject', 'client_ip', 'user_agent', 'action',
  'bucket', 'key', 'expires_at', 'expires_in', 'statement', 'signature_sha256', 'link_id',
  'upload_id', 'request_id', 'request',
]

async function searchAudit(more) {
  await guarded('audit-status', async () => {
    if (!more) {
      audit.filters = fields($('#audit-form'))
      audit.cursor = null
      audit.rows = []
    }
    const page = await api('GET', `/audit${query({ ...audit.filters, cursor: audit.cursor })}`)
    audit.rows.push(...page.events)
    audit.cursor = page.next_cursor
    renderAudit()
  })
}

function renderAudit() {
  const table = $('#audit-table')
  const body = table.tBodies[0]
  body.replaceChildren(...audit.rows.map((row) => h('tr', {},
    h('td', {}, h('a', { href: `#audit/${row.id}`, title: 'Details' }, when(row.time))),
    h('td', {}, badge(row.outcome)),
    h('td', {}, row.subject),
    h('td', {}, row.action),
    h('td', { class: 'key' }, [row.bucket, row.key].filter(Boolean).join('/') || '—'),
    h('td', {}, when(row.expires_at)),
    h('td', { class: 'key' }, row.outcome === 'denied' ? row.reason : row.statement),
  )))
  table.hidden = audit.rows.length === 0
  $('#audit-more').hidden = !audit.cursor
  $('#audit-csv').disabled = audit.rows.length === 0
  status('audit-status', audit.rows.length === 0
    ? 'No rows match these filters.'
    : `${audit.rows.length} row${audit.rows.length === 1 ? '' : 's'}${audit.cursor ? ', more available' : ''}.`)
}

function showRow(row) {
  const list = $('#audit-detail dl')
  list.replaceChildren(...AUDIT_COLUMNS.flatMap((name) => {
    const value = row[name]
    const shown = ['time', 'expires_at'].includes(name) && value ? when(value)
      : typeof value === 'object' && value !== null ? JSON.stringify(value) : (value ?? '—')
    return [h('dt', {}, name), h('dd', {}, shown)]
  }))
  $('#audit-detail').hidden = false
  $('#audit-detail').scrollIntoView({ block: 'nearest' })
}

/** A row by id: from the loaded page, else from the millisecond its UUIDv7 names. */
async function showRowById(id) {
  const loaded = audit.rows.find((row) => row.id === id)
  if (loaded) return showRow(loaded)
  await guarded('audit-status', async () => {
    const millis = parseInt(id.replace(/-/g, '').slice(0, 12), 16)
    if (!Number.isFinite(millis)) throw new Error(`${id} is not an audit id`)
    const since = new Date(millis).toISOString()
    const until = new Date(millis + 1).toISOString()
    const page = await api('GET', `/audit${query({ since, until, limit: 1000 })}`)
    const row = page.events.find((event) => event.id === id)
    if (!row) throw new Error(`No audit row ${id} (it may have passed retention).`)
    status('audit-status', '')
    showRow(row)
  })
}

function csvCell(value) {
  const text = value === null || value === undefined ? ''
    : typeof value === 'object' ? JSON.stringify(value) : String(value)
  // A leading = + - @ would be a formula to a spreadsheet: quote it as text.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

function exportCsv() {
  const lines = [AUDIT_COLUMNS.join(',')]
  for (const row of audit.rows) lines.push(AUDIT_COLUMNS.map((name) => csvCell(row[name])).join(','))
  const blob = new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' })
  const link = h('a', { href: URL.createObjectURL(blob), download: `presignd-audit-${new Date().toISOString()}.csv` })
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000)
}

// ---------------------------------------------------------------- leaked URL

async function findLeak(event) {
  event.preventDefault()
  const url = $('#leak-url').value.trim()
  const result = $('#leak-result')
  result.hidden = true
  await guarded('leak-status', async () => {
    if (/\/l\/[^/?#]+$/.test(new URL(url, location.href).pathname)) {
      throw new Error('This is a share link (/l/…): presignd stores only its token\'s hash. '
        + 'Find the link under Share links by its creator, or revoke that creator\'s links.')
    }
    const page = await api('GET', `/audit${query({ url })}`)
    const row = page.events[0]
    if (!row) {
      status('leak-status', 'No audit row matches this URL: presignd did not issue it, or its signature was altered.')
      return
    }
    const live = row.outcome === 'issued' && row.expires_at && new Date(row.expires_at) > new Date()
    result.replaceChildren(
      h('p', { class: 'verdict' }, live ? badge('valid') : badge('invalid'),
        live ? ' This URL still works until it expires.' : ' This URL no longer works.'),
      h('dl', {},
        h('dt', {}, 'Issued to'), h('dd', {}, `${row.subject} (${row.issuer})`),
        h('dt', {}, 'When'), h('dd', {}, when(row.time)),
        h('dt', {}, 'Until'), h('dd', {}, when(row.expires_at)),
        h('dt', {}, 'Object'), h('dd', {}, `${row.action} ${row.bucket}/${row.key}`),
        h('dt', {}, 'From'), h('dd', {}, `${row.client_ip ?? '—'} ${row.user_agent ?? ''}`),
        h('dt', {}, 'Statement'), h('dd', {}, row.statement ?? '—'),
        h('dt', {}, 'Audit row'), h('dd', {}, h('a', { href: `#audit/${row.id}` }, row.id)),
        row.link_id && [h('dt', {}, 'Share link'), h('dd', {}, row.link_id)],
      ),
      h('p', { class: 'hint' }, 'A presigned URL cannot be revoked before it expires; the links this subject shared can.'),
      h('button', { type: 'button', class: 'danger', id: 'leak-revoke', onclick: () => revokeSubject(row.subject, row.issuer, 'leak-status') },
        `Revoke every share link of ${row.subject}`),
    )
    result.hidden = false
    status('leak-status', '')
  })
}

async function revokeSubject(subject, issuer, statusId) {
  if (!confirm(`Revoke every active share link of ${subject}?`)) return
  await guarded(statusId, async () => {
    const answer = await api('POST', '/links/revoke', { subject, issuer })
    status(statusId, `${answer.revoked} link${answer.revoked === 1 ? '' : 's'} of ${subject} revoked.`)
  })
}

// ---------------------------------------------------------------- activity chart

async function loadActivity(event) {
  event?.preventDefault()
  await guarded('activity-status', async () => {
    const { window: seconds, ...filters } = fields($('#activity-form'))
    const until = new Date()
    const since = new Date(until - Number(seconds ?? 86400) * 1000)
    const stats = await api('GET', `/audit/stats${query({ ...filters, since: since.toISOString(), until: until.toISOString() })}`)
    drawChart(stats)
    const rows = Object.entries(stats.by_action)
    $('#activity-table').tBodies[0].replaceChildren(...rows.map(([action, counts]) =>
      h('tr', {}, h('td', {}, action), h('td', {}, counts.issued), h('td', {}, counts.denied))))
    $('#activity-table').hidden = rows.length === 0
    $('#activity-figure').hidden = false
    status('activity-status', `${stats.total.issued} issued, ${stats.total.denied} denied, per ${stats.interval}`
      + (rows.length === 0 ? ': nothing in this window.' : '.'))
  })
}

const SVG = 'http://www.w3.org/2000/svg'
function s(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value)
  if (text !== undefined) element.textContent = text
  return element
}

/** Stacked bars, issued below denied, one per bucket, with a labelled scale. */
function drawChart(stats) {
  const width = 900; const height = 260; const left = 44; const bottom = 28; const top = 10
  const buckets = stats.buckets
  const peak = Math.max(1, ...buckets.map((b) => b.issued + b.denied))
  const plotHeight = height - bottom - top
  const step = (width - left) / buckets.length
  const y = (value) => top + plotHeight - (value / peak) * plotHeight
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Issued and denied per ${stats.interval}` })
  svg.append(s('line', { class: 'axis', x1: left, x2: width, y1: y(0), y2: y(0) }))
  for (const value of [0, Math.round(peak / 2), peak]) {
    svg.append(s('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end' }, String(value)))
    svg.append(s('line', { class: 'axis', x1: left, x2: width, y1: y(value), y2: y(value), 'stroke-dasharray': '2 4' }))
  }
  const labelEvery = Math.ceil(buckets.length / 8)
  buckets.forEach((bucket, index) => {
    const x = left + index * step
    const barWidth = Math.max(1, step * 0.8)
    const title = `${new Date(bucket.start).toLocaleString()}: ${bucket.issued} issued, ${bucket.denied} denied`
    const issued = s('rect', { class: 'issued', x, width: barWidth, y: y(bucket.issued), height: y(0) - y(bucket.issued) })
    const denied = s('rect', { class: 'denied', x, width: barWidth, y: y(bucket.issued + bucket.denied), height: y(bucket.issued) - y(bucket.issued + bucket.denied) })
    for (const bar of [issued, denied]) bar.append(s('title', {}, title))
    svg.append(issued, denied)
    if (index % labelEvery === 0) {
      const start = new Date(bucket.start)
      const label = stats.interval === 'day' ? start.toLocaleDateString()
        : start.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      // A label near the right edge ends at its bar rather than running past the chart.
      const nearEdge = x + 70 > width
      svg.append(s('text', { x: nearEdge ? x + barWidth : x, y: height - 8, 'text-anchor': nearEdge ? 'end' : 'start' }, label))
    }
  })
  $('#chart').replaceChildren(svg)
}

// ---------------------------------------------------------------- share links

let links = []

async function loadLinks(event) {
  event?.preventDefault()
  await guarded('links-status', async () => {
    const page = await api('GET', `/links${query({ ...fields($('#links-form')), limit: 1000 })}`)
    links = page.links
    renderLinks()
  })
}

function renderLinks() {
  const body = $('#links-table').tBodies[0]
  body.replaceChildren(...links.map((link) => h('tr', {},
    h('td', {}, h('input', { type: 'checkbox', class: 'pick', value: link.id, 'aria-label': `Select link ${link.id}`, disabled: link.state !== 'active', onchange: pickedLinks })),
    h('td', {}, when(link.created_at)),
    h('td', {}, link.subject),
    h('td', { class: 'key' }, `${link.bucket}/${link.key}`),
    h('td', {}, badge(link.state)),
    h('td', {}, link.max_uses ? `${link.uses}/${link.max_uses}` : String(link.uses)),
    h('td', {}, when(link.expires_at)),
    h('td', {}, link.state === 'active'
      ? h('button', { type: 'button', class: 'danger revoke', onclick: () => revokeLinks([link.id]) }, 'Revoke')
      : ''),
  )))
  $('#links-table').hidden = links.length === 0
  $('#links-all').checked = false
  pickedLinks()
  status('links-status', links.length === 0 ? 'No share links match.' : `${links.length} link${links.length === 1 ? '' : 's'}.`)
}

function pickedLinks() {
  const picked = [...document.querySelectorAll('#links-table .pick:checked')]
  $('#links-revoke-selected').disabled = picked.length === 0
  $('#links-revoke-subject').disabled = !fields($('#links-form')).subject
  return picked.map((box) => box.value)
}

async function revokeLinks(ids) {
  if (!confirm(`Revoke ${ids.length} share link${ids.length === 1 ? '' : 's'}? They answer 410 from now on.`)) return
  await guarded('links-status', async () => {
    for (const id of ids) await api('DELETE', `/links/${encodeURIComponent(id)}`)
    await loadLinks()
    status('links-status', `${ids.length} link${ids.length === 1 ? '' : 's'} revoked.`)
  })
}

// ---------------------------------------------------------------- uploads

async function loadUploads(event) {
  event?.preventDefault()
  await guarded('uploads-status', async () => {
    const page = await api('GET', `/uploads${query(fields($('#uploads-form')))}`)
    const body = $('#uploads-table').tBodies[0]
    body.replaceChildren(...page.uploads.map((upload) => h('tr', {},
      h('td', {}, when(upload.created_at)),
      h('td', {}, upload.subject),
      h('td', { class: 'key' }, `${upload.bucket}/${upload.key}`),
      h('td', {}, badge(upload.state)),
      h('td', {}, upload.declared_size === null ? '—' : bytes(upload.declared_size)),
      h('td', {}, when(upload.expires_at)),
      h('td', {}, upload.state === 'open'
        ? h('button', { type: 'button', class: 'danger', onclick: () => abortUpload(upload) }, 'Abort')
        : ''),
    )))
    $('#uploads-table').hidden = page.uploads.length === 0
    status('uploads-status', page.uploads.length === 0 ? 'No upload sessions match.' : `${page.uploads.length} session${page.uploads.length === 1 ? '' : 's'}.`)
  })
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n; let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1 }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

async function abortUpload(upload) {
  if (!confirm(`Abort the upload of ${upload.key}? Its uploaded parts are discarded.`)) return
  await guarded('uploads-status', async () => {
    await api('DELETE', `/uploads/${encodeURIComponent(upload.id)}`)
    await loadUploads()
    status('uploads-status', `Upload ${upload.id} aborted.`)
  })
}

// ---------------------------------------------------------------- policy simulator

async function simulate(event) {
  event.preventDefault()
  const result = $('#simulate-result')
  result.hidden = true
  await guarded('simulate-status', async () => {
    const form = $('#simulate-form')
    let claims
    try {
      claims = JSON.parse(form.elements.claims.value || '{}')
    } catch (error) {
      throw new Error(`Claims must be a JSON object: ${error.message}`)
    }
    const context = {}
    for (const line of form.elements.context.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf('=')
      if (at < 1) throw new Error(`Context line "${line}" is not key=value`)
      context[line.slice(0, at).trim()] = line.slice(at + 1).trim()
    }
    const verdict = await api('POST', '/policy/simulate', {
      subject: form.elements.subject.value.trim(),
      action: form.elements.action.value,
      resource: form.elements.resource.value.trim(),
      claims,
      context,
    })
    result.replaceChildren(
      h('p', { class: 'verdict' }, badge(verdict.decision), ` ${verdict.action} on ${verdict.resource}`),
      h('dl', {},
        h('dt', {}, 'Statement'), h('dd', {}, verdict.statement ?? 'none'),
        verdict.reason && [h('dt', {}, 'Reason'), h('dd', {}, verdict.reason)],
        verdict.tried.map((tried) => [h('dt', {}, `Tried ${tried.statement}`), h('dd', {}, tried.detail)]),
        h('dt', {}, 'Claims'), h('dd', {}, JSON.stringify(verdict.claims)),
        h('dt', {}, 'Context'), h('dd', {}, Object.entries(verdict.context).map(([k, v]) => `${k}=${v}`).join(' ')),
      ),
    )
    result.hidden = false
    status('simulate-status', '')
  })
}

// ---------------------------------------------------------------- wiring

function start() {
  for (const select of document.querySelectorAll('select.actions')) {
    for (const action of ACTIONS) select.append(h('option', {}, action))
  }
  $('#sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const token = $('#token').value.trim().replace(/^Bearer\s+/i, '')
    if (!claimsOf(token)) {
      $('#sign-in-error').hidden = false
      $('#sign-in-error').textContent = 'That is not a JWT (three dot-separated parts).'
      return
    }
    sessionStorage.setItem(TOKEN_KEY, token)
    $('#token').value = ''
    signedIn()
  })
  $('#sign-out').addEventListener('click', () => signOut())
  $('#tabs').addEventListener('click', (event) => {
    const view = event.target.closest('[role=tab]')?.dataset.view
    if (view) location.hash = view
  })
  $('#tabs').addEventListener('keydown', tabKeys)
  window.addEventListener('hashchange', route)
  $('#audit-form').addEventListener('submit', (event) => { event.preventDefault(); searchAudit(false) })
  $('#audit-more').addEventListener('click', () => searchAudit(true))
  $('#audit-csv').addEventListener('click', exportCsv)
  $('#audit-detail-close').addEventListener('click', () => {
    $('#audit-detail').hidden = true
    history.replaceState(null, '', '#audit')
  })
  $('#leak-form').addEventListener('submit', findLeak)
  $('#activity-form').addEventListener('submit', loadActivity)
  $('#links-form').addEventListener('submit', loadLinks)
  $('#links-form').addEventListener('input', pickedLinks)
  $('#links-all').addEventListener('change', (event) => {
    for (const box of document.querySelectorAll('#links-table .pick:not(:disabled)')) box.checked = event.target.checked
    pickedLinks()
  })
  $('#links-revoke-selected').addEventListener('click', () => revokeLinks(pickedLinks()))
  $('#links-revoke-subject').addEventListener('click', async () => {
    await revokeSubject(fields($('#links-form')).subject, undefined, 'links-status')
    const message = $('#links-status').textContent
    await loadLinks()
    status('links-status', message)
  })
  $('#uploads-form').addEventListener('submit', loadUploads)
  $('#simulate-form').addEventListener('submit', simulate)

  if (sessionStorage.getItem(TOKEN_KEY)) signedIn()
  else signOut()
  document.documentElement.dataset.ready = 'true'
}

start()
