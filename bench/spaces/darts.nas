// darts.nas - the DARTS cell space of benchmark row 3 (bench/run.py): pipelines/darts_1st.nas's cell
// (4 nodes, 2 inputs, 8 candidate ops per edge) scaled to Fashion-MNIST on 2 CPU cores: 5 cells of 8
// channels, reductions at cells 1 and 3.

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 5, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}
