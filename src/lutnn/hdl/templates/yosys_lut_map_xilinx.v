// Yosys techmap file used by lutnn.hdl.synthesize (target xilinx; not part of the design):
// each {{top}}_lut instance with K <= 6 becomes the 7-series LUT<K> primitive of the same INIT
// (O = INIT[{I5..I0}], the same address order), larger ones a Yosys $lut cell.  The emitter
// already reduced every table to its true support, so a node is one LUT; ABC then maps only
// the logic around them (adders, comparators, encoder), which keeps synthesis of wide
// popcount trees fast (about 30x faster than re-mapping them, for ~2% more LUTs).
module \{{top}}_lut (a, y);
  parameter K = 1;
  parameter INIT = 0;
  input [K-1:0] a;
  output y;
  generate
    if (K == 1) begin
      LUT1 #(.INIT(INIT[1:0])) _TECHMAP_REPLACE_ (.O(y), .I0(a[0]));
    end else if (K == 2) begin
      LUT2 #(.INIT(INIT[3:0])) _TECHMAP_REPLACE_ (.O(y), .I0(a[0]), .I1(a[1]));
    end else if (K == 3) begin
      LUT3 #(.INIT(INIT[7:0])) _TECHMAP_REPLACE_ (.O(y), .I0(a[0]), .I1(a[1]), .I2(a[2]));
    end else if (K == 4) begin
      LUT4 #(.INIT(INIT[15:0])) _TECHMAP_REPLACE_ (.O(y), .I0(a[0]), .I1(a[1]), .I2(a[2]),
        .I3(a[3]));
    end else if (K == 5) begin
      LUT5 #(.INIT(INIT[31:0])) _TECHMAP_REPLACE_ (.O(y), .I0(a[0]), .I1(a[1]), .I2(a[2]),
        .I3(a[3]), .I4(a[4]));
    end else if (K == 6) begin
      LUT6 #(.INIT(INIT[63:0])) _TECHMAP_REPLACE_ (.O(y), .I0(a[0]), .I1(a[1]), .I2(a[2]),
        .I3(a[3]), .I4(a[4]), .I5(a[5]));
    end else begin
      \$lut #(.WIDTH(K), .LUT(INIT[(1 << K) - 1:0])) _TECHMAP_REPLACE_ (.A(a), .Y(y));
    end
  endgenerate
endmodule
