// A raw TCP pipeline: greets on connect, upper-cases what it receives, says bye when the client
// half-closes.
pipy()

.listen(+os.env.PORT)
.replaceData(
  data => new Data(data.toString().toUpperCase())
)
.replaceStreamStart(
  new Data('welcome\n')
)
.replaceStreamEnd(
  () => [new Data('bye\n'), new StreamEnd()]
)
