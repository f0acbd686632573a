" nasl pipelines
autocmd BufRead,BufNewFile *.nas set filetype=nas
