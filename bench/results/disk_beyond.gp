# make bench-disk-beyond's plot: each row of disk_beyond.csv (written by
# bench/xets_bench_beyond.erl) as the ratio xets / db_bench ops/s, log
# scale; above the line at 1 xets is ahead, the dashed line at 0.67 is the
# target (within 1.5x of db_bench).
set terminal pngcairo noenhanced size 1200,600 font ",10"
set output 'disk_beyond.png'
set datafile separator ','
set title "xets against RocksDB's db_bench on a table 10x its memory limit, same budget (make bench-disk-beyond): xets / db_bench ops/s, log scale"
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.8
set logscale y
set yrange [0.1:20]
set grid ytics
set key off
set xtics rotate by 35 right scale 0 font ",8"
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
set arrow from graph 0, first 0.667 to graph 1, first 0.667 nohead lw 1 dt 2 lc rgb "red"
plot 'disk_beyond.csv' skip 1 using 8:xtic(sprintf("%s, %s proc%s", strcol(2), strcol(3), strcol(9) eq "true" ? "" : " (!)")) lc rgb "#3070b0", \
     '' skip 1 using 0:8:(sprintf("%.2f", $8)) with labels offset 0,0.7 font ",8"
