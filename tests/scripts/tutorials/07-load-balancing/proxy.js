// Tutorial 07 shape: router → balancer → default, round robin chosen per request.
(config =>

pipy()

.export('proxy', {
  __turnDown: false,
})

.listen(+config.listen)
  .demuxHTTP('request')

.pipeline('request')
  .use(
    config.plugins,
    'request',
    'response',
    () => __turnDown
  )

)(JSON.parse(pipy.load('config/proxy.json').toString().replace(
  new RegExp('\\$\\{(\\w+)\\}', 'g'), (_, name) => os.env[name]
)))
