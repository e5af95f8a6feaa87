// The plugin gateway: an HTTP reverse proxy whose behaviour is a chain of plugins listed in
// config/proxy.json. Each request passes the plugins' 'request' pipelines in order; the plugin
// that produces the response (the balancer, or the 404 fallback) turns the chain down, and the
// response travels back through the 'response' pipelines of the plugins before it.
(config =>

pipy()

.export('proxy', {
  __turnDown: false,
})

.listen(config.listen)
  // Per client connection: plugins keep their connection state in a 'session' pipeline.
  .use(config.plugins, 'session')
  .demuxHTTP('request')

.pipeline('request')
  .use(
    config.plugins,
    'request',
    'response',
    () => __turnDown
  )

)(JSON.decode(pipy.load('config/proxy.json')))
