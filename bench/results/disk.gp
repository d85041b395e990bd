# make bench-disk's plot: each row of disk.csv (written by
# bench/xets_bench_disk.erl) as the ratio xets / other, log scale; above
# the line at 1, xets is ahead (for rates; row 6, a time, the other way).
set terminal pngcairo noenhanced size 1400,700 font ",10"
set output 'disk.png'
set datafile separator ','
set title "xets persistent tables against DETS, mnesia and RocksDB's db_bench (make bench-disk): xets / other, log scale"
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.8
set logscale y
set yrange [0.1:20]
set grid ytics
set key off
set xtics rotate by 35 right scale 0 font ",8"
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot 'disk.csv' skip 1 using 8:xtic(sprintf("%s: %s vs %s", strcol(1), strcol(2), strcol(6))) lc rgb "#3070b0", \
     '' skip 1 using 0:8:(sprintf("%.2f", $8)) with labels offset 0,0.7 font ",8"
