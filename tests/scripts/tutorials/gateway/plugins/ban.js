// Per-service client IP lists: a non-empty white list admits only its addresses, otherwise a
// black list rejects its addresses. Rejected requests get 403 and the chain is turned down.
(config =>

pipy({
  _lists: Object.fromEntries(
    Object.entries(config.services).map(
      ([name, lists]) => [
        name,
        {
          white: lists.white?.length > 0 ? Object.fromEntries(lists.white.map(ip => [ip, true])) : null,
          black: lists.black?.length > 0 ? Object.fromEntries(lists.black.map(ip => [ip, true])) : null,
        }
      ]
    )
  ),

  _list: null,
})

.import({
  __turnDown: 'proxy',
  __serviceID: 'router',
})

.pipeline('request')
  .handleStreamStart(
    () => (
      _list = _lists[__serviceID],
      __turnDown = Boolean(
        _list && (
          _list.white ? !_list.white[__inbound.remoteAddress] : _list.black?.[__inbound.remoteAddress]
        )
      )
    )
  )
  .link(
    'deny', () => __turnDown,
    'pass'
  )

.pipeline('deny')
  .replaceMessage(
    new Message({ status: 403 }, 'Access denied')
  )

.pipeline('pass')

)(JSON.decode(pipy.load('config/ban.json')))
