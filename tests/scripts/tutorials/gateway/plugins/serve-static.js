// Serves files under a service's root directory (index.html for directories, .gz variants for
// clients accepting gzip); requests for missing files go on to the balancer.
(config =>

pipy({
  _file: null,
})

.import({
  __turnDown: 'proxy',
  __serviceID: 'router',
})

.pipeline('request')
  .handleMessageStart(
    msg => (
      _file = config.services[__serviceID]?.root ? (
        http.File.from(config.services[__serviceID].root + msg.head.path)
      ) : null
    )
  )
  .link(
    'serve', () => Boolean(_file),
    'pass'
  )

.pipeline('serve')
  .replaceMessage(
    msg => (
      __turnDown = true,
      _file.toMessage(msg.head.headers['accept-encoding'])
    )
  )

.pipeline('pass')

)(JSON.decode(pipy.load('config/serve-static.json')))
