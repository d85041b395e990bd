# Written by xets_bench from the throughput rows of the CSV next to it.
set terminal pngcairo noenhanced size 1400,1320 font ",10"
set output 'throughput.png'
set multiplot layout 4,1 title "ets vs xets throughput, ops/s (log scale); pN = N processes; xets/ets above each pair"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set format y '%.0s%c'
set yrange [100:30000000]
set grid ytics
set key top right
set xtics rotate by 25 right scale 0
$t1 << EOD
"50i/50d p1" 1587603 1361216 "0.86" 2540165
"50i/50d p2" 1112048 823123 "0.74" 1779277
"10i/10d/80l p1" 1593290 1611243 "1.01" 2577989
"10i/10d/80l p2" 1754180 1494588 "0.85" 2806688
"1i/1d/98l p1" 1705396 1542589 "0.90" 2728634
"1i/1d/98l p2" 1753263 1580830 "0.90" 2805221
"100l p1" 1853987 1627517 "0.88" 2966380
"100l p2" 2124260 1824880 "0.86" 3398816
"10i/10d/40l/40n10 p1" 466798 332407 "0.71" 746877
"10i/10d/40l/40n10 p2" 464802 329169 "0.71" 743683
"10i/10d/40l/40n100 p1" 59393 45143 "0.76" 95029
"10i/10d/40l/40n100 p2" 98135 55141 "0.56" 157016
"10i/10d/79l/1sa p1" 1603 NaN "n/a" 2565
"10i/10d/79l/1sa p2" 1367 NaN "n/a" 2187
"10i/10d/79l/1sr p1" 1594 NaN "n/a" 2550
"10i/10d/79l/1sr p2" 1510 NaN "n/a" 2415
EOD
set title "set, wc=auto rc=true"
plot $t1 using 2:xtic(1) title 'ets' lc rgb '#4477aa', $t1 using 3 title 'xets' lc rgb '#ee6677', $t1 using 0:5:4 with labels notitle font ',8'
$t2 << EOD
"50i/50d p1" 643978 544130 "0.84" 1030365
"50i/50d p2" 603508 576494 "0.96" 965612
"10i/10d/80l p1" 620081 622125 "1.00" 995400
"10i/10d/80l p2" 917182 1092753 "1.19" 1748404
"1i/1d/98l p1" 628086 556780 "0.89" 1004937
"1i/1d/98l p2" 623291 625045 "1.00" 1000072
"100l p1" 621085 568765 "0.92" 993735
"100l p2" 722547 644707 "0.89" 1156075
"10i/10d/40l/40n10 p1" 317292 289154 "0.91" 507668
"10i/10d/40l/40n10 p2" 266524 267444 "1.00" 427911
"10i/10d/40l/40n100 p1" 53663 50308 "0.94" 85860
"10i/10d/40l/40n100 p2" 59377 57721 "0.97" 95003
"10i/10d/79l/1sa p1" 1428 NaN "n/a" 2285
"10i/10d/79l/1sa p2" 1700 NaN "n/a" 2719
"10i/10d/79l/1sr p1" 1311 NaN "n/a" 2097
"10i/10d/79l/1sr p2" 1381 NaN "n/a" 2210
EOD
set title "ordered_set, wc=true rc=true"
plot $t2 using 2:xtic(1) title 'ets' lc rgb '#4477aa', $t2 using 3 title 'xets' lc rgb '#ee6677', $t2 using 0:5:4 with labels notitle font ',8'
$t3 << EOD
"50i/50d p1" 805773 590387 "0.73" 1289236
"50i/50d p2" 202911 552368 "2.72" 883789
"10i/10d/80l p1" 718417 686207 "0.96" 1149467
"10i/10d/80l p2" 370064 653344 "1.77" 1045351
"1i/1d/98l p1" 778985 717161 "0.92" 1246376
"1i/1d/98l p2" 899594 1036837 "1.15" 1658939
"100l p1" 925341 819134 "0.89" 1480545
"100l p2" 1581483 1545356 "0.98" 2530372
"10i/10d/40l/40n10 p1" 460368 337572 "0.73" 736588
"10i/10d/40l/40n10 p2" 255208 340453 "1.33" 544725
"10i/10d/40l/40n100 p1" 93993 57593 "0.61" 150389
"10i/10d/40l/40n100 p2" 79403 68565 "0.86" 127045
"10i/10d/79l/1sa p1" 1374 NaN "n/a" 2198
"10i/10d/79l/1sa p2" 2382 NaN "n/a" 3811
"10i/10d/79l/1sr p1" 1513 NaN "n/a" 2422
"10i/10d/79l/1sr p2" 2987 NaN "n/a" 4780
EOD
set title "ordered_set, rc=true"
plot $t3 using 2:xtic(1) title 'ets' lc rgb '#4477aa', $t3 using 3 title 'xets' lc rgb '#ee6677', $t3 using 0:5:4 with labels notitle font ',8'
$t4 << EOD
"50i/50d p1" 1882308 1439015 "0.76" 3011692
"50i/50d p2" 1650437 1242798 "0.75" 2640699
"10i/10d/80l p1" 1605153 1589875 "0.99" 2568245
"10i/10d/80l p2" 1838953 1611772 "0.88" 2942325
"1i/1d/98l p1" 1667744 1732112 "1.04" 2771380
"1i/1d/98l p2" 1910960 2032916 "1.06" 3252666
"100l p1" 1859534 1780907 "0.96" 2975255
"100l p2" 1832315 2062239 "1.13" 3299582
"10i/10d/40l/40n10 p1" 436205 348262 "0.80" 697928
"10i/10d/40l/40n10 p2" 575265 493808 "0.86" 920423
"10i/10d/40l/40n100 p1" 66686 47540 "0.71" 106697
"10i/10d/40l/40n100 p2" 65616 47672 "0.73" 104985
"10i/10d/79l/1sa p1" 1766 NaN "n/a" 2826
"10i/10d/79l/1sa p2" 1667 NaN "n/a" 2667
"10i/10d/79l/1sr p1" 1032 NaN "n/a" 1651
"10i/10d/79l/1sr p2" 1436 NaN "n/a" 2297
EOD
set title "bag, wc=auto rc=true"
plot $t4 using 2:xtic(1) title 'ets' lc rgb '#4477aa', $t4 using 3 title 'xets' lc rgb '#ee6677', $t4 using 0:5:4 with labels notitle font ',8'
unset multiplot
