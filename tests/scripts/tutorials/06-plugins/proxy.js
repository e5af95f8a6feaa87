// Tutorials 05–06 shape: a plugin chain configured in JSON. The router plugin forwards what it
// knows and turns the chain down; the default plugin answers everything else with a 404.
// Config files may name environment variables as ${NAME}; they are expanded before decoding.
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
