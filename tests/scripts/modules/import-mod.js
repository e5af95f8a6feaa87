// Imports __x from the main script and replaces the request with a message built from it.
pipy()

.import({
  __x: 'main',
})

.pipeline('p')
.replaceMessage(
  () => (__x = `${__x}+mod`, new Message(`mod sees ${__x}`))
)
