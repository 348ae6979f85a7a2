// {{title}}
module {{module}} (
  input  wire clk,
  input  wire rst,
  input  wire in_valid,
  output wire in_ready,
  input  wire [{{in_msb}}:0] in_data,
  output reg  out_valid,
  input  wire out_ready,
  output reg  [{{out_msb}}:0] out_data
);
  reg [{{feat_msb}}:0] feat;  // position l's {{channels}} bit(s) at feat[{{channels}}*l +: {{channels}}]
  reg [{{count_msb}}:0] count;
  reg full;  // feat holds a whole image (held until the tail's result is taken)
  reg busy;  // the tail is working on feat
  reg [{{left_msb}}:0] left;  // clocks until the tail's result is ready
  wire [{{feat_msb}}:0] flat;  // ImageFlatten's order: bit c*{{positions}} + l
{{flat}}
  wire [{{out_msb}}:0] result;
{{tail}}
  // the tail starts when the output register is empty, its result is ready {{latency}} clock(s) later
  wire launch = full & ~busy & ~out_valid;
  wire capture = {{capture}};
  assign in_ready = ~full;
  always @(posedge clk) begin
    if (rst) begin
      count <= 0;
      full <= 1'b0;
      busy <= 1'b0;
      left <= 0;
      out_valid <= 1'b0;
    end else begin
      if (out_ready) out_valid <= 1'b0;
      if (in_valid & ~full) begin
        feat <= {{feat_next}};
        if (count == {{count_last}}) begin
          count <= 0;
          full <= 1'b1;
        end else begin
          count <= count + 1'b1;
        end
      end
      if (launch) begin
        busy <= 1'b1;
        left <= {{left_start}};
      end else if (left != 0) begin
        left <= left - 1'b1;
      end
      if (capture) begin
        out_data <= result;
        out_valid <= 1'b1;
        full <= 1'b0;
        busy <= 1'b0;
      end
    end
  end
endmodule
