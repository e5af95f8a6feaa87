// Last plugin of the chain: requests no plugin handled get a 404.
pipy()

.pipeline('request')
  .replaceMessage(
    new Message({ status: 404 }, 'No handler')
  )
