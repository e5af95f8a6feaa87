// Exports __x; the module modules/import-mod.js imports it, changes it and replies with it.
pipy()

.export('main', {
  __x: '',
})

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.handleMessageStart(
  msg => __x = msg.head.path
)
.use('modules/import-mod.js', 'p')
.replaceMessage(
  msg => new Message(`${msg.body.toString()}|main sees ${__x}`)
)
