// Routes by host and path to a target; a found target is proxied and the chain turned down.
(config =>

pipy({
  _router: new algo.URLRouter(config.routes),
  _target: '',
})

.import({
  __turnDown: 'proxy',
})

.pipeline('request')
  .handleMessageStart(
    msg => (
      _target = _router.find(
        msg.head.headers.host,
        msg.head.path,
      ),
      _target && (__turnDown = true)
    )
  )
  .link(
    'forward', () => Boolean(_target),
    ''
  )

.pipeline('forward')
  .muxHTTP(
    'connection',
    () => _target
  )

.pipeline('connection')
  .connect(
    () => _target
  )

)(JSON.parse(pipy.load('config/router.json').toString().replace(
  new RegExp('\\$\\{(\\w+)\\}', 'g'), (_, name) => os.env[name]
)))
