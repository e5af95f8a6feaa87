// Tutorial 04 shape: a URL router picks the upstream; unknown paths get 404 "No route".
// One upstream session per target (muxHTTP key = target).
pipy({
  _router: new algo.URLRouter({
    '/hi/*': '127.0.0.1:' + os.env.HI,
    '/echo': '127.0.0.1:' + os.env.ECHO,
    '/ip/*': '127.0.0.1:' + os.env.IP,
  }),

  _target: '',
})

.listen(+os.env.PORT)
  .demuxHTTP('request')

.pipeline('request')
  .handleMessageStart(
    msg => (
      _target = _router.find(
        msg.head.headers.host,
        msg.head.path,
      )
    )
  )
  .link(
    'forward', () => Boolean(_target),
    'not-found'
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

.pipeline('not-found')
  .replaceMessage(
    new Message({ status: 404 }, 'No route')
  )
