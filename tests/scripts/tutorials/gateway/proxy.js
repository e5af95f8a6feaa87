// Tutorials 08–19 shape: the plugin gateway. PROXY_CONFIG names the proxy config to run (a plugin
// list per tutorial; default config/proxy.json). Config files may name environment variables as
// ${NAME}; they are expanded before decoding.
(config =>

pipy()

.export('proxy', {
  __turnDown: false,
})

.listen(+config.listen)
  .use(config.plugins, 'session')
  .demuxHTTP('request')

.pipeline('request')
  .use(
    config.plugins,
    'request',
    'response',
    () => __turnDown
  )

)(JSON.parse(pipy.load(os.env.PROXY_CONFIG || 'config/proxy.json').toString().replace(
  new RegExp('\\$\\{(\\w+)\\}', 'g'), (_, name) => os.env[name]
)))
