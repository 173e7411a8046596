module logistica.dev/tools/pause

go 1.21
