// Response cache for the configured path suffixes of a service, keyed by host + path, expiring
// `timeout` ms after it was last stored. Only responses with status < 400 are kept; a hit is
// answered here and the chain turned down (the response still passes the 'response' stage
// below, which stores it again and so refreshes its time).
(config =>

pipy({
  _entries: {},
  _key: '',
  _hit: null,
  _cacheable: false,
})

.import({
  __turnDown: 'proxy',
  __serviceID: 'router',
})

.pipeline('request')
  .handleMessageStart(
    msg => (
      _cacheable = Boolean(config.services[__serviceID]?.some?.(suffix => msg.head.path.endsWith(suffix))),
      _cacheable && (
        _key = msg.head.headers.host + msg.head.path,
        _hit = _entries[_key],
        _hit && _hit.time < Date.now() - config.timeout && (_hit = _entries[_key] = null),
        _hit && (__turnDown = true)
      )
    )
  )
  .link(
    'hit', () => Boolean(_hit),
    'pass'
  )

.pipeline('hit')
  .replaceMessage(
    () => _hit.message
  )

.pipeline('response')
  .handleMessage(
    msg => (
      _cacheable && (msg.head.status || 200) < 400 && (
        _entries[_key] = { time: Date.now(), message: msg }
      )
    )
  )

.pipeline('pass')

)(JSON.decode(pipy.load('config/cache.json')))
